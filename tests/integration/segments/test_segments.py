"""Segment definitions over a hand-made fixture: every shipped segment's members, computed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from collector.segments.definitions import DefinitionError, load_definitions, parse_definition, refresh
from collector.segments.index import build_index, updated_index
from collector.storage import store

SITE = "example.com"
NOW = datetime(2026, 3, 15, 12, 0)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = store.open_database(tmp_path / "fixture.duckdb", None)
    store.migrate(con)
    yield con
    con.close()


def profile(
    con: duckdb.DuckDBPyConnection,
    visitor: int,
    device: str | None = None,
    language: str | None = None,
    first_seen: datetime = datetime(2025, 1, 1),
    utm_source: str | None = None,
    site: str = SITE,
) -> None:
    con.execute(
        "INSERT INTO profiles (site, visitor, first_seen, last_seen, days_active, visits, pageviews, events, "
        "device_type, language, first_utm_source) VALUES (?, ?, ?, ?, 1, 1, 1, 0, ?, ?, ?)",
        [site, visitor, first_seen, NOW, device, language, utm_source],
    )


def views(con: duckdb.DuckDBPyConnection, visitor: int, day: date, section: str, pageviews: int) -> None:
    con.execute("INSERT INTO profile_sections VALUES (?, ?, ?, ?, ?, 0)", [SITE, visitor, day, section, pageviews])


def did(con: duckdb.DuckDBPyConnection, visitor: int, day: date, name: str, n: int = 1) -> None:
    con.execute("INSERT INTO profile_events VALUES (?, ?, ?, ?, ?)", [SITE, visitor, day, name, n])


def fill(con: duckdb.DuckDBPyConnection) -> None:
    profile(con, 1, "mobile", "vi-VN", datetime(2026, 3, 10), "Newsletter")
    views(con, 1, date(2026, 3, 15), "shoes", 2)
    views(con, 1, date(2026, 3, 14), "shoes", 1)
    did(con, 1, date(2026, 3, 15), "signup")

    profile(con, 2, "desktop", "en-US", datetime(2025, 12, 1))
    views(con, 2, date(2026, 3, 15), "", 1)
    did(con, 2, date(2026, 2, 1), "signup")  # 42 days ago: outside 30 days

    profile(con, 3, "tablet", "vi", datetime(2026, 3, 14))
    views(con, 3, date(2026, 2, 1), "shoes", 5)  # too old for every window

    profile(con, 4, "desktop", "EN", utm_source="Face Book")
    views(con, 4, date(2026, 3, 1), "bags", 3)  # exactly 14 days ago: outside the 14-day window
    views(con, 4, date(2026, 3, 2), "bags", 2)
    did(con, 4, date(2026, 3, 10), "Add to Cart", 2)

    for visitor, n in zip(range(5, 13), range(1, 9), strict=True):
        profile(con, visitor)
        views(con, visitor, date(2026, 3, 15), "", n)
    profile(con, 13)
    views(con, 13, date(2026, 3, 15), "", 50)

    profile(con, 1, "mobile", "vi", site="other.org")  # the same hash on another site stays there


def members(con: duckdb.DuckDBPyConnection, site: str = SITE) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for segment, visitor in con.execute(
        "SELECT segment, visitor FROM segment_members WHERE site = ?", [site]
    ).fetchall():
        found.setdefault(segment, set()).add(int(visitor))
    return found


def test_every_shipped_segment_has_the_hand_computed_members(con: duckdb.DuckDBPyConnection) -> None:
    fill(con)
    refresh(con, [SITE], load_definitions(), NOW)
    # Page views in 30 days, ascending: 1,1,2,3,3,4,5,5,6,7,8,50 -> percent_rank >= 0.9 keeps 8 and 50.
    assert members(con) == {
        "returning": {1, 4},
        "mobile": {1},
        "desktop": {2, 4},
        "tablet": {3},
        "lang_vi": {1, 3},
        "lang_en": {2, 4},
        "engaged": {12, 13},
        "interested_shoes": {1},
        "new_this_week": {1, 3},
        "campaign_newsletter": {1},
        "campaign_face_book": {4},
        "did_signup": {1},
        "did_add_to_cart": {4},
    }


def test_a_refresh_applies_only_the_difference_and_drops_empty_template_segments(
    con: duckdb.DuckDBPyConnection,
) -> None:
    fill(con)
    definitions = load_definitions()
    refresh(con, [SITE], definitions, NOW)
    before = dict(con.execute("SELECT visitor, computed_at FROM segment_members WHERE segment = 'desktop'").fetchall())
    con.execute("UPDATE profiles SET device_type = 'desktop' WHERE visitor = 1 AND site = ?", [SITE])
    con.execute("UPDATE profiles SET first_utm_source = NULL WHERE visitor = 4")
    later = datetime(2026, 3, 15, 12, 1)
    [result] = refresh(con, [SITE], definitions, later)

    # Added: visitor 1 to desktop. Removed: visitor 1 from mobile, visitor 4 from campaign_face_book.
    assert (result.added, result.removed) == (1, 2)
    assert result.sizes["mobile"] == 0 and "campaign_face_book" not in result.sizes
    assert members(con)["desktop"] == {1, 2, 4}
    assert "mobile" not in members(con)
    after = dict(con.execute("SELECT visitor, computed_at FROM segment_members WHERE segment = 'desktop'").fetchall())
    assert after[2] == before[2] and after[1] == later  # unchanged rows are not rewritten
    sizes = dict(con.execute("SELECT name, members FROM segments WHERE site = ?", [SITE]).fetchall())
    assert sizes["mobile"] == 0  # a named segment stays listed when empty
    assert "campaign_face_book" not in sizes  # a template's value that vanished is gone
    assert sizes["campaign_newsletter"] == 1


def test_the_index_maps_each_visitor_to_its_segments_per_site(con: duckdb.DuckDBPyConnection) -> None:
    fill(con)
    definitions = load_definitions()
    refresh(con, [SITE, "other.org"], definitions, NOW)
    index = build_index(con)
    assert index.segments_of(SITE, 1) == (
        "campaign_newsletter",
        "did_signup",
        "interested_shoes",
        "lang_vi",
        "mobile",
        "new_this_week",
        "returning",
    )
    assert index.segments_of("other.org", 1) == ("lang_vi", "mobile")
    assert index.segments_of(SITE, 999) == ()
    assert len(index.sets[SITE]["engaged"]) == 2
    assert index.computed_at[SITE] == NOW
    assert updated_index(con, index, refresh(con, [SITE], definitions, NOW)).members == index.members
    index.forget(SITE, 1)
    assert index.segments_of(SITE, 1) == ()


def test_a_definition_file_that_was_removed_takes_its_members_with_it(con: duckdb.DuckDBPyConnection) -> None:
    fill(con)
    definitions = load_definitions()
    refresh(con, [SITE], definitions, NOW)
    refresh(con, [SITE], [d for d in definitions if d.file != "mobile.sql"], NOW)
    assert "mobile" not in members(con)
    assert con.execute("SELECT count(*) FROM segments WHERE name = 'mobile'").fetchone() == (0,)


def test_definition_headers_are_parsed_and_checked() -> None:
    text = "-- name: lang_{language}\n-- description: Hi.\n-- refresh: 5m\nSELECT 1 AS visitor;\n"
    d = parse_definition("x.sql", text)
    assert (d.name, d.key, d.description, d.refresh_seconds, d.sql) == (
        "lang_{language}",
        "language",
        "Hi.",
        300,
        "SELECT 1 AS visitor",
    )
    assert parse_definition("y.sql", "-- name: y\nSELECT 1 AS visitor").refresh_seconds == 60
    with pytest.raises(DefinitionError, match=r"x\.sql: '-- name:'"):
        parse_definition("x.sql", "-- name: Bad Name\nSELECT 1")
    with pytest.raises(DefinitionError, match="refresh"):
        parse_definition("x.sql", "-- name: x\n-- refresh: soon\nSELECT 1")
    with pytest.raises(DefinitionError, match="no query"):
        parse_definition("x.sql", "-- name: x\n")


def test_a_definition_with_an_unknown_parameter_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    d = parse_definition("x.sql", "-- name: x\nSELECT visitor FROM profiles WHERE site = $domain")
    with pytest.raises(DefinitionError, match=r"\$domain"):
        refresh(con, [SITE], [d], NOW)


def test_the_index_handles_more_than_64_segments(con: duckdb.DuckDBPyConnection) -> None:
    profile(con, 1)
    profile(con, 2)
    many = parse_definition(
        "n.sql", "-- name: n_{k}\nSELECT visitor, k FROM profiles, range(70) r(k) WHERE visitor = 1"
    )
    one = parse_definition("a.sql", "-- name: all\nSELECT visitor FROM profiles")
    refresh(con, [SITE], [many, one], NOW)
    index = build_index(con)
    assert index.segments_of(SITE, 1) == tuple(sorted(["all", *(f"n_{k}" for k in range(70))]))
    assert index.segments_of(SITE, 2) == ("all",)
