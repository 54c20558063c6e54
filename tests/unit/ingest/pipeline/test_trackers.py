"""The tracker list: click ids and other tracking parameters are stripped from URLs, the rest kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.ingest.pipeline.trackers import TRACKER_PARAMS, is_tracker, strip_trackers


def test_tracker_list_strips_click_ids_and_keeps_other_parameters() -> None:
    url, removed = strip_trackers("https://x.com/a?gclid=1&utm_source=n&FBCLID=2&q=shoes&_hsenc=3&pk_campaign=c")
    assert removed == ["gclid", "fbclid", "_hsenc", "pk_campaign"]
    assert url == "https://x.com/a?utm_source=n&q=shoes"
    assert not is_tracker("utm_campaign")


def test_every_tracker_parameter_is_documented_in_privacy_md() -> None:
    text = (Path(__file__).resolve().parents[4] / "PRIVACY.md").read_text(encoding="utf-8")
    missing = sorted(p for p in TRACKER_PARAMS if f"`{p}`" not in text)
    assert missing == []


@pytest.mark.parametrize(
    "name", ["gclid", "GCLID", "fbclid", "pk_source", "mtm_campaign", "_hsq", "hsa_ad", "matomo_kwd", "piwik_x"]
)
def test_listed_names_and_prefixes_are_trackers_in_any_case(name: str) -> None:
    assert is_tracker(name)


@pytest.mark.parametrize("name", ["utm_source", "utm_content", "q", "page", "gclid_x", "ref", "id"])
def test_campaign_and_site_parameters_are_not_trackers(name: str) -> None:
    assert not is_tracker(name)


@pytest.mark.parametrize(
    "url",
    [
        "https://x.com/a",
        "https://x.com/a?q=shoes&utm_source=n",
        "https://x.com/a?q=a%20b+c",
        "https://x.com/a?",
    ],
)
def test_a_url_without_trackers_is_returned_unchanged(url: str) -> None:
    assert strip_trackers(url) == (url, [])


def test_stripping_re_encodes_the_parameters_that_are_kept() -> None:
    assert strip_trackers("https://x.com/a?q=a%20b&fbclid=1&empty=#top") == (
        "https://x.com/a?q=a+b&empty=#top",
        ["fbclid"],
    )


def test_a_tracker_only_query_leaves_no_query() -> None:
    assert strip_trackers("https://x.com/a?_ga=1&gclid=2") == ("https://x.com/a", ["_ga", "gclid"])
