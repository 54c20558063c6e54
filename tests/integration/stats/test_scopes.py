from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from collector.errors import ClientError
from collector.stats import queries
from collector.stats.queries import QueryError
from tests.integration.stats.test_queries import PERIOD, with_k
from tests.querydata import SITE


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
    assert caught.value.field == "filter"
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
    assert caught.value.field == "filter"
    with pytest.raises(ClientError, match="filter path needs a value of 1 to 300 printable") as caught:
        rows(con, tmp_path, "pages", path="/\x00")
    assert caught.value.field == "filter"


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


def expr(con: duckdb.DuckDBPyConnection, tmp_path: Path, name: str, *expressions: str) -> list[tuple[Any, ...]]:
    result = queries.run(con, with_k(tmp_path, 1), name, PERIOD, expressions)
    assert result.params["filters"] == list(dict.fromkeys(expressions))
    return [tuple(r) for r in result.rows]


def test_is_not_keeps_the_other_devices_events(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    # B (Samsung) and D (Dell): every Apple event (A, C, the GPC iPhone N) is left out.
    assert expr(con, tmp_path, "pages", "device_brand!=Apple") == [("/", 2, 2), ("/docs", 1, 1), ("/pricing", 1, 1)]


def test_contains_ignores_case_and_keeps_whole_visits(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    # Visits that viewed /pricing: A's first, B's, C's on Nov 1 and C's across midnight (Nov 2-3).
    # /: A and B on Nov 1, C on Nov 2; /pricing: A, B and C on Nov 1, C again on Nov 3 (consented, per day).
    assert expr(con, tmp_path, "pages", "path~/PRIC") == [("/pricing", 4, 4), ("/", 3, 3)]


def test_a_custom_property_keeps_the_visits_with_it_or_without_it(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # plan=pro: A's second visit (/ then signup).
    assert expr(con, tmp_path, "pages", "prop:plan==pro") == [("/", 1, 1)]
    # Every visit but C's of Nov 1 (plan=free); N's /secret view has no visitor and folds.
    assert expr(con, tmp_path, "pages", "prop:plan!=free") == [
        ("/", 4, 6),
        ("/pricing", 3, 3),
        ("/docs", 1, 1),
        ("(other)", 0, 1),
    ]


def test_is_not_on_the_entry_and_on_what_a_visit_did(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    # Visits not from google.com that have a visitor: A's second, B's, C's two.
    assert expr(con, tmp_path, "entry_pages", "referrer!=google.com") == [("/", 3, 3), ("/pricing", 1, 1)]
    # Desktop events of visits without a signup: A's first, D's, C's across midnight.
    assert expr(con, tmp_path, "pages", "event!=signup", "device_type==desktop") == [
        ("/", 3, 3),
        ("/pricing", 2, 2),
        ("/docs", 1, 1),
    ]


def test_a_bad_expression_names_the_filter(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    for bad in ("device_brand=Samsung", "colour==red", "prop:plan=="):
        with pytest.raises(ClientError) as caught:
            expr(con, tmp_path, "pages", bad)
        assert caught.value.field == "filter"
        assert caught.value.status == 400
    with pytest.raises(QueryError, match="drops cannot be filtered") as caught:
        expr(con, tmp_path, "drops", "path~/")
    assert caught.value.field == "filter"
