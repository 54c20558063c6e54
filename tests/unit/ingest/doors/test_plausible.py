"""Plausible's tracker and Events API payloads as the collector's own fields."""

from __future__ import annotations

import pytest

from collector.ingest.doors.plausible import carries, translate
from collector.ingest.parsing import ParseError


def test_tells_plausible_payloads_from_the_snippets_by_v_or_the_long_names() -> None:
    assert carries({"n": "pageview", "v": 36, "u": "https://a.com/", "d": "a.com"})
    assert carries({"name": "pageview", "url": "https://a.com/", "domain": "a.com"})
    assert not carries({"n": "pageview", "u": "https://a.com/", "d": "a.com", "w": 1280, "h": 720})


def test_short_names_map_to_the_same_fields_and_props_keep_scalars_only() -> None:
    hit = translate({"n": "Signup", "v": 36, "u": "https://a.com/x", "d": "a.com", "r": None, "p": {"a": 1, "b": [1]}})
    assert hit.raw == {"d": "a.com", "n": "Signup", "u": "https://a.com/x", "r": None, "p": {"a": 1}}
    assert hit.engagement is None


def test_long_names_of_the_events_api_map_like_the_short_ones() -> None:
    hit = translate({"name": "pageview", "url": "https://a.com/y", "domain": "a.com", "referrer": "https://b.org/"})
    assert hit.raw == {"d": "a.com", "n": "pageview", "u": "https://a.com/y", "r": "https://b.org/"}


def test_h_means_hash_routing_so_the_route_comes_from_the_fragment_and_no_height_is_set() -> None:
    hit = translate({"n": "pageview", "v": 36, "u": "https://a.com/app/#/cart?step=2", "d": "a.com", "h": 1})
    assert hit.raw["u"] == "https://a.com/app/cart?step=2"
    assert "h" not in hit.raw and "w" not in hit.raw
    plain_anchor = translate({"n": "pageview", "v": 36, "u": "https://a.com/doc#intro", "d": "a.com", "h": 1})
    assert plain_anchor.raw["u"] == "https://a.com/doc#intro"


def test_engagement_keeps_scroll_depth_and_engaged_time_only() -> None:
    hit = translate({"n": "engagement", "v": 36, "u": "https://a.com/", "d": "a.com", "sd": 73, "e": 5120, "p": {}})
    assert hit.engagement == (73, 5120)
    assert translate(
        {"n": "engagement", "v": 36, "u": "https://a.com/", "d": "a.com", "sd": 250, "e": 10**12}
    ).engagement == (
        100,
        86_400_000,
    )


@pytest.mark.parametrize("bad", [{"sd": "far"}, {"sd": -1}, {"sd": 50, "e": True}])
def test_engagement_with_a_bad_figure_names_the_field(bad: dict[str, object]) -> None:
    with pytest.raises(ParseError) as caught:
        translate({"n": "engagement", "v": 36, "u": "https://a.com/", "d": "a.com", **bad})
    assert caught.value.field in ("sd", "e")


def test_a_rollup_sends_to_its_first_domain_and_an_app_referrer_is_no_referrer() -> None:
    hit = translate({"n": "pageview", "v": 36, "u": "https://a.com/", "d": "a.com,b.com", "r": "android-app://x/"})
    assert (hit.raw["d"], hit.raw["r"]) == ("a.com", None)
