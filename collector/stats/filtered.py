"""Filtered views ("only Samsung visitors"): the same named queries, answered from rollups of the matching events.

A filter cannot be answered from `daily_breakdowns` (it holds one dimension at a time), so a scope
rebuilds the rollups for one site and period from the events the filters keep (`filtered.sql`), with the
very rollup SQL that builds the real ones (`breakdowns.sql`), into temporary tables that shadow
`events` and `daily_breakdowns` for this connection only. Every named query then runs unchanged, with
its k-anonymity folding. All of it happens in one transaction that is always rolled back, so nothing a
scope does can reach the real tables.

The filtered set itself must be large enough: when fewer than k visitors match, nothing is shown.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import duckdb

from collector.stats import breakdowns

_SQL = Path(__file__).with_name("filtered.sql")
MAX_VALUE = 300

# name -> what it keeps; the first group matches events, the second whole visits.
FILTERS: dict[str, str] = {
    "device_type": "events from devices of this type (desktop, smartphone, tablet, ...)",
    "device_brand": "events from devices of this brand",
    "device_model": "events from devices of this model",
    "os_name": "events from this operating system",
    "browser_name": "events from this browser",
    "screen_class": "events from screens of this size class (phone, tablet, laptop, desktop)",
    "screen_size": "events from screens of exactly this size (WIDTHxHEIGHT)",
    "language": "events from browsers set to this language",
    "timezone": "events from this time zone",
    "path": "visits with a page view of this path",
    "entry_page": "visits that began on this path",
    "referrer": "visits that came from this referring host ('(direct)': none)",
    "utm_source": "visits whose first event had this utm_source",
    "event": "visits with a custom event of this name",
}
VISIT_FILTERS = frozenset(("path", "entry_page", "referrer", "utm_source", "event"))


class TooFew(Exception):
    """Fewer than k visitors match the filters: showing anything would describe too few people."""

    def __init__(self, floor: int, k: int) -> None:
        few = "no visitors match" if floor == 0 else f"fewer than {k} visitors match"
        super().__init__(f"{few} these filters; widen the period or remove a filter")
        self.floor = floor
        self.k = k


@cache
def scope_sql() -> str:
    return _SQL.read_text(encoding="utf-8")


def check(name: str, value: str) -> str | None:
    """What is wrong with a filter, or None."""
    if name not in FILTERS:
        return f"unknown filter {name!r}; filters: {', '.join(FILTERS)}"
    if not value or len(value) > MAX_VALUE or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return f"filter {name} must be 1 to {MAX_VALUE} printable characters"
    return None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def floor(con: duckdb.DuckDBPyConnection, site: str, start: date, end: date) -> int:
    """A floor on the distinct visitors of a period, as kanon_breakdown counts them (in a scope: of the scope)."""
    row = con.execute(
        "SELECT coalesce(sum(cookieless) + max(consented), 0) FROM daily_breakdowns "
        "WHERE site = $site AND dimension = 'total' AND day BETWEEN $start AND $end",
        {"site": site, "start": start, "end": end},
    ).fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def scoped(
    con: duckdb.DuckDBPyConnection,
    site: str,
    start: date,
    end: date,
    filters: Mapping[str, str],
    k: int,
    counted_from: date | None = None,
) -> Iterator[None]:
    """Within the block, `events` and `daily_breakdowns` hold only what the filters keep, for start..end.

    Raises TooFew when fewer than k visitors match from `counted_from` (default: start) to end. `con` must
    be a connection of its own (a cursor) with no open transaction.
    """
    lo, hi = _midnight(start), _midnight(end + timedelta(days=1))
    params: dict[str, object] = {name: filters.get(name) for name in FILTERS}
    params |= {"site": site, "lo": lo, "hi": hi, "visit_filtered": any(filters.get(n) for n in VISIT_FILTERS)}
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(scope_sql(), params)
        con.execute("CREATE TEMP TABLE daily_breakdowns AS FROM db.main.daily_breakdowns LIMIT 0")
        con.execute(breakdowns.rollup_sql(), {"lo": lo, "hi": hi})
        found = floor(con, site, counted_from or start, end)
        if found < k:
            raise TooFew(found, k)
        yield
    finally:
        con.execute("ROLLBACK")
