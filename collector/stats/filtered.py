"""Filtered views ("only Samsung visitors"): the same named queries, answered from rollups of the matching events.

A filter cannot be answered from `daily_breakdowns` (it holds one dimension at a time), so a scope
groups the events the filters keep (`filtered.sql`, with the conditions of collector/stats/filters.py)
with the very rollup SQL that builds the real ones (`breakdowns.sql`), into temporary tables that shadow
`events` and `daily_breakdowns` for this connection only. Only the rollup families the caller's queries
read are built (of the attributes family, only the dimensions read; the site totals without their
visits when no query reads them), and only the site totals for days before `counted_from` (a
comparison period needs no more). A query that reads one attribute dimension gets its rows grouped
straight from the matching events (`direct` in filtered.sql: the same keys and counts, without the
family's collapse of each visitor's day), and when the rows built already show k visitors
(`lower_floor`), the site totals are not counted at all. Every named query then runs unchanged, with
its k-anonymity folding.
All of it happens in one transaction that is always rolled back, so nothing a scope does can reach the
real tables.

The filtered set itself must be large enough: when fewer than k visitors match, nothing is shown.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import duckdb

from collector.stats import breakdowns
from collector.stats.filters import Filter, predicates

_SQL = Path(__file__).with_name("filtered.sql")
# A query that reads at most this many attribute dimensions gets each grouped straight from the matching
# events (`direct` in filtered.sql); more share the attributes family's collapse of each visitor's day,
# which two direct groupings (`screens`: screen and screen_class) cost more than.
DIRECT_DIMENSIONS = 1


class TooFew(Exception):
    """Fewer than k visitors match the filters: showing anything would describe too few people."""

    def __init__(self, floor: int, k: int) -> None:
        few = "no visitors match" if floor == 0 else f"fewer than {k} visitors match"
        super().__init__(f"{few} these filters; widen the period or remove a filter")
        self.floor = floor
        self.k = k


@cache
def _statements() -> dict[str, str]:
    """The statements of filtered.sql by the name in their `-- statement: NAME` line."""
    found: dict[str, str] = {}
    for part in _SQL.read_text(encoding="utf-8").split("-- statement: ")[1:]:
        name, _, sql = part.partition("\n")
        found[name.strip()] = sql.strip().rstrip(";")
    return found


def scope_sql(filters: Sequence[Filter]) -> tuple[list[str], dict[str, str]]:
    """The statements that create the scope's `events`, and the values of their variables."""
    found = predicates(filters)
    names = ("visits", "visit_events") if found.visit_filtered else ("events",)
    statements = []
    for name in names:
        sql = _statements()[name]
        for marker, condition in (
            ("/*events*/", found.events),
            ("/*flags*/", found.flags),
            ("/*candidates*/", found.candidates),
            ("/*visits*/", found.visits),
            ("/*row*/", found.row),
        ):
            sql = sql.replace(marker, condition)
        statements.append(sql)
    return statements, found.values


def direct_sql(dimension: str) -> str:
    """The statement that groups one attribute dimension of the scope's rollups straight from its events."""
    key = breakdowns.attribute_keys().get(dimension)
    if key is None:
        raise ValueError(f"{dimension!r} is not an attribute dimension")
    return _statements()["direct"].replace("/*key*/", key)


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


def _lower_floor(con: duckdb.DuckDBPyConnection, site: str, start: date, end: date) -> int:
    """A floor under `floor` from the scope's rows of other dimensions (`lower_floor` in filtered.sql)."""
    row = con.execute(_statements()["lower_floor"], {"site": site, "start": start, "end": end}).fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def scoped(
    con: duckdb.DuckDBPyConnection,
    site: str,
    start: date,
    end: date,
    filters: Sequence[Filter],
    k: int,
    counted_from: date | None = None,
    dimensions: frozenset[str] | None = None,
) -> Iterator[None]:
    """Within the block, `events` and `daily_breakdowns` hold only what the filters keep, for start..end.

    `daily_breakdowns` holds the given dimensions (default: all) from `counted_from` (default: start) and
    the site totals before it. Raises TooFew when fewer than k visitors match from `counted_from` to end.
    `con` must be a connection of its own (a cursor) with no open transaction.
    """
    counted = max(start, counted_from or start)
    lo, mid, hi = _midnight(start), _midnight(counted), _midnight(end + timedelta(days=1))
    read = breakdowns.DIMENSIONS if dimensions is None else dimensions
    attributes = read & frozenset(breakdowns.FAMILIES["attributes"])
    direct = attributes if len(attributes) <= DIRECT_DIMENSIONS else frozenset()
    wanted = breakdowns.families_of((read - direct) | {"total"})
    if "total" not in read:  # the floor needs the site's visitors, not its visits
        wanted = tuple(breakdowns.SITE_COUNTS if f == "total" else f for f in wanted)
    statements, values = scope_sql(filters)
    variables: dict[str, object] = {**values, "site": site, "lo": lo, "hi": hi}
    for name, value in variables.items():
        con.execute(f"SET VARIABLE scope_{name} = $value", {"value": value})
    con.execute("BEGIN TRANSACTION")
    try:
        for sql in statements:
            con.execute(sql)
        con.execute("CREATE TEMP TABLE daily_breakdowns AS FROM db.main.daily_breakdowns LIMIT 0")
        if mid > lo:
            con.execute(breakdowns.rollup_sql(("total",)), {"lo": lo, "hi": mid})
        built = tuple(f for f in wanted if f != breakdowns.SITE_COUNTS)
        if built:
            con.execute(breakdowns.rollup_sql(built, read), {"lo": mid, "hi": hi})
        for dimension in sorted(direct):
            con.execute(direct_sql(dimension), {"lo": mid, "hi": hi})
        found = _lower_floor(con, site, counted, end) if built != wanted else 0
        if found < k:
            if built != wanted:
                con.execute(breakdowns.rollup_sql((breakdowns.SITE_COUNTS,)), {"lo": mid, "hi": hi})
            found = floor(con, site, counted, end)
        if found < k:
            raise TooFew(found, k)
        yield
    finally:
        con.execute("ROLLBACK")
        for name in variables:
            con.execute(f"RESET VARIABLE scope_{name}")
