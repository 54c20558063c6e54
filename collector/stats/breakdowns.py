"""Daily rollups behind the named queries (`daily_breakdowns`): a day is rebuilt when its event count moved.

Events only arrive for the present, so only the days from the day before the newest built one are
counted again (a range scan on ts that zone maps keep short); older days are final, and their rollups
outlive erasure and retention as anonymous aggregates. Rebuilding is a delete and an insert per run of
days in one transaction, so no upsert ever sees the same key twice. A busy day (50,000 events or more)
is rebuilt at most once per ten times its last build time, so a busy today costs at most a tenth of the
database's time; a quieter day is always current.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import duckdb

_SQL = Path(__file__).with_name("breakdowns.sql")
# One entry of the attributes family's unnest list (a line of breakdowns.sql), and a comma left before its end.
_ATTRIBUTE = re.compile(r"(\n\s*\{'dimension': '(\w+)'[^\n]*\},?)")
_TRAILING_COMMA = re.compile(r",(\s*\], recursive)")
_LOCK = threading.Lock()
DUTY = 10.0  # a day is rebuilt again only after DUTY times its last build time has passed
CHUNK_DAYS = 7  # days rebuilt in one statement, to bound memory on a first build
BUSY_DAY_EVENTS = 50_000  # a stale day with fewer events is always rebuilt before a query


@dataclass(frozen=True, slots=True)
class Refresh:
    days: list[date]
    skipped: list[date]
    ms: float


# family (a CTE of breakdowns.sql) -> the dimensions of daily_breakdowns it builds
FAMILIES: dict[str, tuple[str, ...]] = {
    "total": ("total",),
    "attributes": ("device", "os", "browser", "screen", "screen_class", "language", "timezone"),
    "pages": ("page",),
    "custom": ("event",),
    "props": ("event_prop",),
    "visit_starts": ("entry_page", "referrer", "campaign"),
}
DIMENSIONS = frozenset(d for dims in FAMILIES.values() for d in dims)
# The `total` rows without their visit counts: a filtered scope's floor when no query reads the totals.
SITE_COUNTS = "site_counts"


@cache
def attribute_keys() -> dict[str, str]:
    """The key struct of each attribute dimension, as the attributes family of breakdowns.sql spells it."""
    found = _ATTRIBUTE.findall(_SQL.read_text(encoding="utf-8"))
    return {name: entry.strip().rstrip(",") for entry, name in found if name in FAMILIES["attributes"]}


def families_of(dimensions: frozenset[str]) -> tuple[str, ...]:
    """The families that build these dimensions, in FAMILIES order."""
    return tuple(f for f, dims in FAMILIES.items() if dimensions & set(dims))


@cache
def rollup_sql(families: tuple[str, ...] = tuple(FAMILIES), attributes: frozenset[str] | None = None) -> str:
    """The rollup INSERT for these families (all of them by default).

    `attributes` narrows the attributes family to those of its dimensions: it fans each visitor's day out
    to one row per dimension, so a filtered scope that reads one of them (a `devices` query) builds a
    seventh of the rows.
    """
    if not families or not set(families) <= set(FAMILIES) | {SITE_COUNTS}:
        raise ValueError(f"unknown rollup families {families}")
    sql = _SQL.read_text(encoding="utf-8")
    if attributes is not None and "attributes" in families:
        dropped = set(FAMILIES["attributes"]) - attributes
        if not dropped < set(FAMILIES["attributes"]):
            raise ValueError(f"no attribute dimension among {sorted(attributes)}")
        sql = _ATTRIBUTE.sub(lambda m: "" if m.group(2) in dropped else m.group(0), sql)
        sql = _TRAILING_COMMA.sub(r"\1", sql)
    union = "\nUNION ALL ".join(f"SELECT * FROM {family}" for family in families)
    return sql.replace("/*families*/", union)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def stale_days(
    con: duckdb.DuckDBPyConnection, since: date | None = None
) -> list[tuple[date, int, datetime | None, float | None]]:
    """Days from `since` whose event count differs from the one their rollups were built from."""
    if since is None:
        newest = con.execute("SELECT max(day) FROM rollup_days").fetchone()
        if newest and newest[0] is not None:
            since = newest[0] - timedelta(days=1)
        else:
            first = con.execute("SELECT min(ts) FROM events").fetchone()
            if not first or first[0] is None:
                return []
            since = first[0].date()
    start = datetime(since.year, since.month, since.day)
    return con.execute(
        """
        SELECT c.day, c.events, r.refreshed_at, r.refresh_ms
        FROM (SELECT ts::DATE AS day, count(*) AS events FROM events WHERE ts >= $start GROUP BY day) c
        LEFT JOIN rollup_days r USING (day)
        WHERE r.day IS NULL OR r.events != c.events
        ORDER BY c.day
        """,
        {"start": start},
    ).fetchall()


def refresh(
    con: duckdb.DuckDBPyConnection,
    now: datetime | None = None,
    throttle: bool = True,
    since: date | None = None,
    busy_day_events: int = BUSY_DAY_EVENTS,
) -> Refresh:
    """Rebuild the rollups of every stale day (one transaction); `con` must be writable."""
    now = now or _now()
    started = time.perf_counter()
    with _LOCK:
        con.execute("BEGIN TRANSACTION")
        try:
            due: list[tuple[date, int]] = []
            skipped: list[date] = []
            for day, events, refreshed_at, refresh_ms in stale_days(con, since):
                if (
                    throttle
                    and refreshed_at is not None
                    and refresh_ms is not None
                    and events >= busy_day_events
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
