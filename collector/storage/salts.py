"""Daily salts kept in the database (the embedded collector): made ahead, destroyed after their day."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta

import duckdb

from collector.identifiers.salts import SaltCache


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


def renew_today(con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> date:
    """Replace today's salt with a fresh one: visitors hashed before and after can no longer be linked. A running
    server takes the new salt at its next maintenance tick (Salts.rotate keeps what the database holds)."""
    today = (now or datetime.now(UTC)).date()
    created = datetime.now(UTC).replace(tzinfo=None)
    con.execute(
        "INSERT INTO salts VALUES (?, ?, ?) ON CONFLICT (day) DO UPDATE SET salt = excluded.salt, "
        "created_at = excluded.created_at",
        [today, secrets.token_bytes(32), created],
    )
    return today
