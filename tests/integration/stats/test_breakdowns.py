from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from collector.stats import breakdowns
from collector.storage.store import migrate, open_database
from tests.querydata import EVENTS, insert_events

NOV = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    db = open_database(tmp_path / "r.duckdb", None)
    migrate(db)
    insert_events(db)
    yield db
    db.close()


def totals(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return con.execute(
        "SELECT day, pageviews, visits FROM daily_breakdowns WHERE dimension = 'total' AND site = 'example.com' "
        "ORDER BY day"
    ).fetchall()


def test_only_days_whose_event_count_moved_are_rebuilt(con: duckdb.DuckDBPyConnection) -> None:
    assert breakdowns.refresh(con).days == NOV
    assert breakdowns.refresh(con).days == []
    insert_events(con, [("2026-11-02 15:00", 5, False, EVENTS[0][3], "pageview", "/", None, None, None)])
    assert breakdowns.refresh(con).days == [date(2026, 11, 2)]
    assert totals(con) == [(NOV[0], 8, 4), (NOV[1], 4, 3), (NOV[2], 1, 0)]


def test_rollups_outlive_erased_or_expired_events(con: duckdb.DuckDBPyConnection) -> None:
    breakdowns.refresh(con)
    before = totals(con)
    con.execute("DELETE FROM events WHERE ts < '2026-11-02'")  # retention or erasure; daily_counts stay
    assert breakdowns.refresh(con).days == []
    assert totals(con) == before


def test_a_slow_day_is_rebuilt_at_most_once_per_ten_times_its_build_time(con: duckdb.DuckDBPyConnection) -> None:
    now = datetime(2026, 11, 3, 12, 0)
    breakdowns.refresh(con, now=now)
    con.execute("UPDATE rollup_days SET refresh_ms = 1000 WHERE day = '2026-11-03'")
    insert_events(con, [("2026-11-03 11:00", 6, False, EVENTS[0][3], "pageview", "/", None, None, None)])
    assert breakdowns.refresh(con, now=now + timedelta(seconds=5)).days == [NOV[2]]  # a quiet day: always
    con.execute("UPDATE rollup_days SET refresh_ms = 1000, refreshed_at = ? WHERE day = '2026-11-03'", [now])
    insert_events(con, [("2026-11-03 11:30", 6, False, EVENTS[0][3], "pageview", "/", None, None, None)])
    skipped = breakdowns.refresh(con, now=now + timedelta(seconds=5), busy_day_events=2)
    assert (skipped.days, skipped.skipped) == ([], [NOV[2]])
    assert breakdowns.refresh(con, now=now + timedelta(seconds=11), busy_day_events=2).days == [NOV[2]]


def test_days_are_rebuilt_in_runs_of_consecutive_days() -> None:
    days = [date(2026, 1, d) for d in (1, 2, 3, 5, 6)] + [date(2026, 2, d) for d in range(1, 10)]
    runs = breakdowns._runs(days)
    assert [len(r) for r in runs] == [3, 2, 7, 2]


def test_the_attributes_family_narrowed_to_some_dimensions_builds_exactly_their_rows(
    con: duckdb.DuckDBPyConnection,
) -> None:
    def built(attributes: frozenset[str] | None) -> list[tuple[object, ...]]:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM daily_breakdowns")
        sql = breakdowns.rollup_sql(("total", "attributes", "visit_starts"), attributes)
        con.execute(sql, {"lo": datetime(2026, 10, 1), "hi": datetime(2026, 12, 1)})
        found = con.execute("SELECT * FROM daily_breakdowns ORDER BY ALL").fetchall()
        con.execute("ROLLBACK")
        return found

    every = built(None)
    narrow = built(frozenset({"os", "screen"}))
    others = {"device", "browser", "screen_class", "language", "timezone"}
    assert {"os", "screen"} | others <= {row[2] for row in every}
    assert narrow == [row for row in every if row[2] not in others]
    assert not others & {row[2] for row in narrow}
    with pytest.raises(ValueError, match="no attribute dimension"):
        breakdowns.rollup_sql(("attributes",), frozenset({"page"}))


def test_the_site_counts_are_the_totals_without_their_visits(con: duckdb.DuckDBPyConnection) -> None:
    def built(family: str) -> list[tuple[object, ...]]:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM daily_breakdowns")
        con.execute(breakdowns.rollup_sql((family,)), {"lo": datetime(2026, 10, 1), "hi": datetime(2026, 12, 1)})
        found = con.execute(
            "SELECT site, day, dimension, pageviews, events, visits, cookieless, consented, anonymous "
            "FROM daily_breakdowns ORDER BY ALL"
        ).fetchall()
        con.execute("ROLLBACK")
        return found

    totals = built("total")
    assert any(row[5] for row in totals)
    assert built(breakdowns.SITE_COUNTS) == [(*row[:5], 0, *row[6:]) for row in totals]
