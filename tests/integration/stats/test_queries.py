from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from collector.settings import Settings
from collector.stats import queries
from collector.stats.queries import QueryError, parse_query
from collector.storage.store import migrate, open_database
from tests.conftest import make_settings
from tests.querydata import SITE, insert_events, insert_extras

PERIOD = {"site": SITE, "from": "2026-11-01", "to": "2026-11-03"}
BREAKDOWNS = (
    "pages",
    "entry_pages",
    "referrers",
    "campaigns",
    "devices",
    "os",
    "browsers",
    "screens",
    "languages",
    "timezones",
    "events",
)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    db = open_database(tmp_path / "fixture.duckdb", None)
    migrate(db)
    insert_events(db)
    insert_extras(db)
    yield db
    db.close()


def with_k(tmp_path: Path, k: int) -> Settings:
    settings = make_settings(tmp_path)
    return replace(settings, sites=(replace(settings.sites[0], k_anonymity=k), *settings.sites[1:]))


def rows(con: duckdb.DuckDBPyConnection, settings: Settings, name: str, **params: str) -> list[tuple[Any, ...]]:
    result = queries.run(con, settings, name, PERIOD | params)
    return [tuple(r) for r in result.rows]


def test_every_shipped_query_parses_and_runs_against_the_fixture(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    shipped = queries.load_queries()
    assert set(BREAKDOWNS) | {"overview", "drops", "segments", "third_parties"} <= set(shipped)
    required = {"conversions": {"goal": "event:signup"}, "funnel": {"steps": "/,event:signup"}}
    for name in shipped:
        result = queries.run(con, with_k(tmp_path, 1), name, PERIOD | required.get(name, {}))
        assert result.columns, name


def test_overview_counts_visitors_page_views_and_visits_per_day(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    # Day 1: A has two visits (a 45-minute gap), B one, C one; two GPC page views have no visitor.
    # Day 2: D one visit, C one starting 23:50. Day 3: C's 00:10 view continues that visit.
    assert rows(con, with_k(tmp_path, 5), "overview", to="2026-11-04") == [
        ("2026-11-01", 3, 8, 4, 1.5),
        ("2026-11-02", 2, 3, 2, 1.5),
        ("2026-11-03", 1, 1, 0, None),
        ("2026-11-04", 0, 0, 0, None),
    ]


def test_pages_with_k_1_fold_only_visitorless_rows(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    assert rows(con, with_k(tmp_path, 1), "pages") == [
        ("/", 4, 6),
        ("/pricing", 4, 4),
        ("/docs", 1, 1),
        ("(other)", 0, 1),
    ]


def test_pages_fold_rows_below_k_into_other(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    assert rows(con, with_k(tmp_path, 3), "pages") == [("/", 4, 6), ("/pricing", 4, 4), ("(other)", 1, 2)]


def test_a_consented_visitor_seen_on_two_days_counts_once_towards_k(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # /pricing: A and B on day 1 (cookieless), C on day 1 and day 3 (consented): 4 visitor-days, 3 people.
    assert rows(con, with_k(tmp_path, 4), "pages") == [("/", 4, 6), ("(other)", 5, 6)]


def test_entry_pages_referrers_and_campaigns_count_visits(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    settings = with_k(tmp_path, 1)
    assert rows(con, settings, "entry_pages") == [("/", 5, 4), ("/pricing", 1, 1)]
    assert rows(con, settings, "referrers") == [
        ("(direct)", 3, 3),
        ("google.com", 2, 2),
        ("news.ycombinator.com", 1, 1),
    ]
    assert rows(con, settings, "campaigns") == [("news", "email", "launch", 1, 1)]
    assert rows(con, with_k(tmp_path, 2), "campaigns") == [("(other)", None, None, 1, 1)]


def test_device_breakdowns(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    settings = with_k(tmp_path, 1)
    assert rows(con, settings, "devices") == [
        ("desktop", "Apple", "Mac", 4, 6),
        ("desktop", "Dell", "XPS", 1, 2),
        ("smartphone", "Samsung", "SM-S911B", 1, 2),
        ("(other)", None, None, 0, 2),
    ]
    assert rows(con, with_k(tmp_path, 2), "devices") == [
        ("desktop", "Apple", "Mac", 4, 6),
        ("(other)", None, None, 2, 6),
    ]
    assert rows(con, settings, "os") == [
        ("Mac OS X", "14.4", 4, 6),
        ("Android", "14", 1, 2),
        ("Windows", "11", 1, 2),
        ("(other)", None, 0, 2),
    ]
    assert rows(con, settings, "browsers") == [("Safari", "17.4", 4, 8), ("Chrome", "124", 2, 4)]


def test_screens_by_size_and_by_class(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    settings = with_k(tmp_path, 1)
    assert rows(con, settings, "screens") == [
        ("1440x900", "desktop", 4, 6),
        ("390x844", "phone", 1, 4),
        ("1920x1080", "desktop", 1, 2),
    ]
    assert rows(con, settings, "screens", by="class") == [(None, "desktop", 5, 8), (None, "phone", 1, 4)]


def test_languages_and_timezones(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    settings = with_k(tmp_path, 1)
    assert rows(con, settings, "languages") == [("en-US", 5, 10), ("de-DE", 1, 2)]
    assert rows(con, settings, "timezones") == [("Europe/Berlin", 5, 10), ("America/New_York", 1, 2)]


def test_events_and_their_props(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    assert rows(con, with_k(tmp_path, 1), "events") == [
        ("signup", None, None, 2, 2),
        ("signup", "plan", "free", 1, 1),
        ("signup", "plan", "pro", 1, 1),
    ]
    assert rows(con, with_k(tmp_path, 2), "events") == [("signup", None, None, 2, 2), ("(other)", None, None, 2, 2)]


def test_drops_segments_and_third_parties(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    assert rows(con, with_k(tmp_path, 5), "drops") == [
        ("bot", 5, date(2026, 11, 1).isoformat(), "2026-11-02"),
        ("prefetch", 1, "2026-11-02", "2026-11-02"),
    ]
    assert rows(con, with_k(tmp_path, 1), "segments") == [
        ("buyers", "bought twice", 5),
        ("browsers", "read three pages", 2),
        ("(other)", None, 0),
    ]
    assert rows(con, with_k(tmp_path, 5), "segments") == [("buyers", "bought twice", 5), ("(other)", None, 2)]
    assert rows(con, with_k(tmp_path, 5), "third_parties") == [
        ("tracker.example", "script-src", "/", 7, "2026-11-01", "2026-11-02"),
        ("(other)", None, None, 1, "2026-11-02", "2026-11-02"),
    ]


def test_no_breakdown_shows_a_value_seen_by_fewer_than_k_visitors(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # Raw truth from the events: distinct visitor hashes per value over the whole period.
    truth = {
        "pages": "SELECT path, count(DISTINCT visitor) FROM events WHERE site = ? AND name = 'pageview' GROUP BY 1",
        "devices": "SELECT device_model, count(DISTINCT visitor) FROM events WHERE site = ? GROUP BY 1",
        "languages": "SELECT language, count(DISTINCT visitor) FROM events WHERE site = ? GROUP BY 1",
    }
    for k in (1, 2, 3, 4, 5):
        settings = with_k(tmp_path, k)
        for name, sql in truth.items():
            people = dict(con.execute(sql, [SITE]).fetchall())
            result = queries.run(con, settings, name, PERIOD)
            column = {"pages": "path", "devices": "model", "languages": "language"}[name]
            position = result.columns.index(column)
            for row in result.rows:
                if row[position] is not None and row[position] != "(other)":
                    assert people[row[position]] >= k, (name, k, row)


def test_a_query_covers_one_site_only_with_that_sites_k(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    settings = with_k(tmp_path, 1)  # example.com has k=1, other.org keeps the default k=5
    assert rows(con, settings, "pages", site="other.org") == [("(other)", 1, 1)]
    other = replace(settings, sites=(settings.sites[0], replace(settings.sites[1], k_anonymity=1)))
    assert rows(con, other, "pages", site="other.org") == [("/", 1, 1)]


def test_the_period_defaults_to_the_last_30_days(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    query = queries.load_queries()["overview"]
    bound = queries.bind(query, with_k(tmp_path, 5), {"site": SITE}, today=date(2026, 11, 30))
    assert (bound["from"], bound["to"]) == (date(2026, 11, 1), date(2026, 11, 30))
    assert len(queries.execute(con, query, bound).rows) == 30


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"site": "nope.example"}, "site"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-11-05", "to": "2026-11-01"}, "from"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"k": "1"}, "k"),
        ({"by": "colour"}, "by"),
    ],
)
def test_bad_parameters_are_refused_with_the_field(tmp_path: Path, params: dict[str, str], field: str) -> None:
    query = queries.load_queries()["screens"]
    with pytest.raises(QueryError) as caught:
        queries.bind(query, with_k(tmp_path, 5), {"site": SITE} | params)
    assert caught.value.field == field
    assert caught.value.status == 400


def test_an_unknown_query_is_a_404(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(QueryError) as caught:
        queries.run(con, with_k(tmp_path, 5), "nope", PERIOD)
    assert caught.value.status == 404


def test_values_are_bound_never_formatted(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    settings = replace(with_k(tmp_path, 1), sites=(replace(with_k(tmp_path, 1).sites[0], domain="x' or '1'='1"),))
    assert queries.run(con, settings, "pages", PERIOD | {"site": "x' or '1'='1"}).rows == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-- description: d\nSELECT 1", "-- name: q"),
        ("-- name: q\nSELECT 1", "description"),
        ("-- name: q\n-- description: d\nSELECT $site", "not declared"),
        ("-- name: q\n-- description: d\n-- param: site VARCHAR\nSELECT 1", "declared but not used"),
        ("-- name: q\n-- description: d\n-- param: k INTEGER\nSELECT $k", "cannot be a parameter"),
        ("-- name: q\n-- description: d\n-- param: n INTEGER ten\nSELECT $n", "n must be INTEGER"),
        ("-- name: q\n-- description: d\n-- param: n LIST\nSELECT $n", "NAME TYPE"),
    ],
)
def test_a_bad_header_is_refused(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_query(text, "q.sql")


def test_the_header_declares_parameters_with_types_and_defaults() -> None:
    query = parse_query(
        "-- name: q\n-- description: Some rows\n-- param: site VARCHAR\n-- param: by ENUM(a,b) b\n"
        "-- param: n INTEGER 3\nSELECT $site, $by, $n, '$notaparam', $k -- $neither",
        "q.sql",
    )
    assert query.description == "Some rows"
    assert [(p.name, p.type, p.default, p.choices) for p in query.params] == [
        ("site", "VARCHAR", None, ()),
        ("by", "VARCHAR", "b", ("a", "b")),
        ("n", "INTEGER", "3", ()),
    ]
    assert query.used == {"site", "by", "n", "k"}
