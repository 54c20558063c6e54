"""Daily salts for cookieless visitor hashes: random, kept only in the database, destroyed after their day."""

from __future__ import annotations

import secrets
import threading
from datetime import date, timedelta


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
