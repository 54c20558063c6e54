from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from collector.stats import queries
from collector.stats.queries import QueryError
from collector.storage.store import cursor, migrate, open_database
from tests.integration.stats.test_queries import PERIOD, with_k
from tests.querydata import SITE, insert_events, insert_extras


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    db = open_database(tmp_path_factory.mktemp("scopes") / "fixture.duckdb", None)
    migrate(db)
    insert_events(db)
    insert_extras(db)
    cur = cursor(db)
    yield cur
    cur.close()
    db.close()


def rows(con: duckdb.DuckDBPyConnection, tmp_path: Path, name: str, k: int = 1, **params: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in queries.run(con, with_k(tmp_path, k), name, PERIOD | params).rows]


def test_a_device_filter_keeps_only_that_devices_events(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    assert rows(con, tmp_path, "pages", device_brand="Samsung") == [("/", 1, 1), ("/pricing", 1, 1)]
    assert rows(con, tmp_path, "overview", device_brand="Samsung") == [
        ("2026-11-01", 1, 2, 1, 2.0),
        ("2026-11-02", 0, 0, 0, None),
        ("2026-11-03", 0, 0, 0, None),
    ]


def test_a_screen_class_filter_keeps_visitorless_events_but_still_folds_them(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # B and the GPC visitor N both have 390 px wide screens; N's views count but never reach k.
    assert rows(con, tmp_path, "pages", screen_class="phone") == [("/", 1, 2), ("/pricing", 1, 1), ("(other)", 0, 1)]


def test_a_referrer_filter_keeps_whole_visits_from_that_referrer(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # A's first visit (/, /pricing) and D's visit (/, /docs) came from google.com; A's later visit did not.
    assert rows(con, tmp_path, "pages", referrer="google.com") == [("/", 2, 2), ("/docs", 1, 1), ("/pricing", 1, 1)]
    assert rows(con, tmp_path, "devices", referrer="google.com") == [
        ("desktop", "Apple", "Mac", 1, 2),
        ("desktop", "Dell", "XPS", 1, 2),
    ]


def test_page_and_event_filters_keep_the_visits_that_saw_them(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    assert rows(con, tmp_path, "overview", path="/docs") == [
        ("2026-11-01", 0, 0, 0, None),
        ("2026-11-02", 1, 2, 1, 2.0),
        ("2026-11-03", 0, 0, 0, None),
    ]
    # A's second visit (/ then signup) and C's visit (/pricing then signup).
    assert rows(con, tmp_path, "pages", event="signup") == [("/", 1, 1), ("/pricing", 1, 1)]
    assert rows(con, tmp_path, "entry_pages", event="signup") == [("/", 1, 1), ("/pricing", 1, 1)]


def test_filters_combine(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    assert rows(con, tmp_path, "pages", referrer="google.com", device_brand="Dell") == [("/", 1, 1), ("/docs", 1, 1)]
    with pytest.raises(QueryError, match="no visitors match these filters"):
        rows(con, tmp_path, "pages", referrer="google.com", device_brand="Samsung")


def test_a_filter_matching_fewer_than_k_visitors_shows_nothing(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="fewer than 2 visitors match") as caught:
        rows(con, tmp_path, "overview", k=2, device_brand="Samsung")
    assert caught.value.field == "device_brand"
    # Apple: A, C (consented: it counts once, on its busiest day) and the GPC iPhone N reach k = 2.
    assert rows(con, tmp_path, "pages", k=2, device_brand="Apple") == [
        ("/pricing", 3, 3),
        ("/", 2, 4),
        ("(other)", 0, 1),
    ]


def test_a_filtered_query_leaves_the_real_tables_as_they_were(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    rows(con, tmp_path, "pages")  # builds the rollups
    before = con.execute("SELECT count(*), sum(pageviews) FROM daily_breakdowns").fetchall()
    rows(con, tmp_path, "pages", device_brand="Samsung")
    assert con.execute("SELECT count(*), sum(pageviews) FROM daily_breakdowns").fetchall() == before
    assert con.execute("SELECT count(*) FROM events").fetchall() == [(15,)]
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall() == [(0,)]


def test_filters_are_refused_by_queries_that_do_not_read_the_rollups(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    with pytest.raises(QueryError, match="drops cannot be filtered") as caught:
        rows(con, tmp_path, "drops", device_brand="Samsung")
    assert caught.value.field == "device_brand"
    with pytest.raises(QueryError, match="filter path must be 1 to 300 printable") as caught:
        rows(con, tmp_path, "pages", path="/\x00")
    assert caught.value.field == "path"


def test_live_counts_the_last_minutes_only(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    con.execute(
        "INSERT INTO events (event_id, ts, site, name, path, visitor, consented, anonymous) VALUES "
        "(uuid(), (now() AT TIME ZONE 'UTC') - INTERVAL 1 MINUTE, $site, 'pageview', '/', 42, false, false), "
        "(uuid(), (now() AT TIME ZONE 'UTC') - INTERVAL 2 MINUTE, $site, 'pageview', '/a', 42, false, false), "
        "(uuid(), (now() AT TIME ZONE 'UTC') - INTERVAL 3 MINUTE, $site, 'signup', '/a', 43, false, false), "
        "(uuid(), (now() AT TIME ZONE 'UTC') - INTERVAL 9 MINUTE, $site, 'pageview', '/', 44, false, false)",
        {"site": SITE},
    )
    try:
        result = queries.run(con, with_k(tmp_path, 5), "live", {"site": SITE})
        assert result.columns[:3] == ["visitors", "pageviews", "events"]
        assert result.rows[0][:3] == [2, 2, 3]
        assert queries.run(con, with_k(tmp_path, 5), "live", {"site": SITE, "minutes": "10"}).rows[0][:3] == [3, 3, 4]
    finally:
        con.execute("DELETE FROM events WHERE visitor IN (42, 43, 44)")
