"""Daily salts for cookieless visitor hashes: random, kept only in the database, destroyed after their day."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, date, datetime, timedelta

import duckdb


class SaltCache:
    """Today's and tomorrow's salts in memory, so the hot path never waits for storage at midnight."""

    def __init__(self, grace_hours: int = 2) -> None:
        self.grace = timedelta(hours=grace_hours)
        self._salts: dict[date, bytes] = {}
        self._lock = threading.Lock()
        self.version = 0  # bumped whenever the salts change, so that copies elsewhere can follow

    def __call__(self, day: date) -> bytes:
        salt = self._salts.get(day)
        if salt is None:
            # Only reached if rotation has not run (a clock jump): make one in memory; rotation stores it.
            with self._lock:
                salt = self._salts.setdefault(day, secrets.token_bytes(32))
        return salt

    def known(self) -> dict[date, bytes]:
        return dict(self._salts)

    def replace(self, salts: dict[date, bytes]) -> None:
        """Take the salts another process keeps (the server's ingest process gets them from the server)."""
        with self._lock:
            self._salts = dict(salts)
            self.version += 1


class Salts(SaltCache):
    """Salts kept in the database (the embedded collector)."""

    def rotate(self, con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> list[date]:
        """Ensure salts for today and tomorrow exist and destroy expired ones; return the days destroyed."""
        now = now or datetime.now(UTC)
        today = now.date()
        keep_from = (now - self.grace).date()
        created = datetime.now(UTC).replace(tzinfo=None)
        with self._lock:
            for day in (today, today + timedelta(days=1)):
                salt = self._salts.get(day, secrets.token_bytes(32))
                con.execute("INSERT INTO salts VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [day, salt, created])
            rows = con.execute("SELECT day, salt FROM salts WHERE day >= ?", [keep_from]).fetchall()
            expired = [r[0] for r in con.execute("SELECT day FROM salts WHERE day < ?", [keep_from]).fetchall()]
            con.execute("DELETE FROM salts WHERE day < ?", [keep_from])
            self._salts = {day: bytes(salt) for day, salt in rows}
            self.version += 1
        return expired
