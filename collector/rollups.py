"""Daily rollups behind the named queries: a day is rebuilt from its events when its event count moved.

The writer already keeps `daily_counts` in the same transaction as the events, so comparing it with the
count each day was last built from finds the stale days without touching the events. Rebuilding a day
is a delete and an insert in one transaction, so no upsert ever sees the same key twice. Today stays
stale while events arrive; it is rebuilt at most once per ten times its own build time, so a busy day
costs the database at most a tenth of its time; a day that builds in under 100 ms is always current.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import duckdb

_SQL = Path(__file__).with_name("rollups.sql")
_LOCK = threading.Lock()
DUTY = 10.0  # a day is rebuilt again only after DUTY times its last build time has passed
CHUNK_DAYS = 7  # days rebuilt in one statement, to bound memory on a first build
THROTTLE_FROM_MS = 100.0  # days that build faster than this are always rebuilt when stale


@dataclass(frozen=True, slots=True)
class Refresh:
    days: list[date]
    skipped: list[date]
    ms: float


@cache
def rollup_sql() -> str:
    return _SQL.read_text(encoding="utf-8")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def stale_days(con: duckdb.DuckDBPyConnection) -> list[tuple[date, int, datetime | None, float | None]]:
    return con.execute(
        """
        SELECT c.day, c.events, r.refreshed_at, r.refresh_ms
        FROM (SELECT day, sum(events)::BIGINT AS events FROM daily_counts GROUP BY day) c
        LEFT JOIN rollup_days r USING (day)
        WHERE r.day IS NULL OR r.events != c.events
        ORDER BY c.day
        """
    ).fetchall()


def refresh(con: duckdb.DuckDBPyConnection, now: datetime | None = None, throttle: bool = True) -> Refresh:
    """Rebuild the rollups of every stale day (one transaction); `con` must be writable."""
    now = now or _now()
    started = time.perf_counter()
    with _LOCK:
        con.execute("BEGIN TRANSACTION")
        try:
            due: list[tuple[date, int]] = []
            skipped: list[date] = []
            for day, events, refreshed_at, refresh_ms in stale_days(con):
                if (
                    throttle
                    and refreshed_at is not None
                    and refresh_ms is not None
                    and refresh_ms >= THROTTLE_FROM_MS
                    and now - refreshed_at < timedelta(milliseconds=DUTY * refresh_ms)
                ):
                    skipped.append(day)
                else:
                    due.append((day, events))
            for chunk in _runs([d for d, _ in due]):
                _rebuild(con, chunk, {d: n for d, n in due}, now)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return Refresh([d for d, _ in due], skipped, (time.perf_counter() - started) * 1000)


def _runs(days: list[date]) -> list[list[date]]:
    """Consecutive days in groups of at most CHUNK_DAYS."""
    runs: list[list[date]] = []
    for day in days:
        if runs and day - runs[-1][-1] == timedelta(days=1) and len(runs[-1]) < CHUNK_DAYS:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _rebuild(con: duckdb.DuckDBPyConnection, days: list[date], events: dict[date, int], now: datetime) -> None:
    lo, hi = days[0], days[-1] + timedelta(days=1)
    started = time.perf_counter()
    con.execute("DELETE FROM daily_breakdowns WHERE day >= ? AND day < ?", [lo, hi])
    lo_ts = datetime(lo.year, lo.month, lo.day)
    hi_ts = datetime(hi.year, hi.month, hi.day)
    con.execute(rollup_sql(), {"lo": lo_ts, "hi": hi_ts})
    ms = (time.perf_counter() - started) * 1000 / len(days)
    con.executemany(
        "INSERT INTO rollup_days VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET events = EXCLUDED.events, "
        "refreshed_at = EXCLUDED.refreshed_at, refresh_ms = EXCLUDED.refresh_ms",
        [[day, events[day], now, ms] for day in days],
    )
