"""put_url and urls.py: the page URL becomes host, path and campaign; the referrer becomes a host, or None
for the page's own host; a URL without a host drops the event."""

from __future__ import annotations

import pytest

from collector.events import DropReason
from collector.ingest.pipeline.steps import put_url
from collector.ingest.pipeline.urls import MAX_CAMPAIGN_VALUE, referrer_host, split_page_url
from tests.eventlib import event


def test_host_path_and_campaign_params_are_kept_and_other_params_dropped() -> None:
    out = put_url(
        event(
            url="https://Example.COM/shop/shoes?q=red&utm_source=news&UTM_Medium=mail&utm_campaign=spring#top",
            referrer="https://www.google.com/search?q=shoes",
        )
    )
    assert out.dropped is None
    assert (out.hostname, out.path, dict(out.utm), out.referrer_host) == (
        "example.com",
        "/shop/shoes",
        {"utm_source": "news", "utm_medium": "mail", "utm_campaign": "spring"},
        "google.com",
    )
    assert out.url == "https://Example.COM/shop/shoes?q=red&utm_source=news&UTM_Medium=mail&utm_campaign=spring#top"


def test_a_referrer_from_the_pages_own_host_is_dropped() -> None:
    out = put_url(event(url="https://example.com/b", referrer="https://EXAMPLE.com/a?x=1"))
    assert (out.hostname, out.referrer_host) == ("example.com", None)


def test_a_referrer_from_www_of_the_own_host_is_kept_without_www() -> None:
    # Only the exact host counts as internal; "www." is removed after that comparison.
    assert put_url(event(url="https://example.com/b", referrer="https://www.example.com/a")).referrer_host == (
        "example.com"
    )


@pytest.mark.parametrize("url", ["https://", "http://[::1", "/relative/path", "mailto:jane@x.com"])
def test_a_page_url_without_a_host_is_dropped_as_invalid(url: str) -> None:
    out = put_url(event(url=url))
    assert out.dropped is DropReason.INVALID_URL
    assert out.hostname is None and out.path is None


def test_an_empty_path_is_the_root_and_no_query_means_no_campaign() -> None:
    assert split_page_url("https://example.com") == ("example.com", "/", {})


def test_the_first_campaign_value_wins_blank_ones_are_skipped_and_long_ones_cut() -> None:
    long = "x" * (MAX_CAMPAIGN_VALUE + 50)
    _, _, campaign = split_page_url(f"https://example.com/?utm_term=&utm_source=a&utm_source=b&utm_content={long}")
    assert dict(campaign) == {"utm_source": "a", "utm_content": "x" * MAX_CAMPAIGN_VALUE}


def test_the_campaign_cannot_be_changed_through_the_shared_cache() -> None:
    _, _, campaign = split_page_url("https://example.com/?utm_source=a")
    with pytest.raises(TypeError):
        campaign["utm_source"] = "b"  # type: ignore[index]


@pytest.mark.parametrize(
    ("referrer", "own", "expected"),
    [
        (None, "example.com", None),
        ("", "example.com", None),
        ("not a url", "example.com", None),
        ("http://[::1", "example.com", None),
        ("https://news.example.org/item?id=1", "example.com", "news.example.org"),
        ("https://www.bing.com/", None, "bing.com"),
        ("android-app://com.google.android.gm/", "example.com", "com.google.android.gm"),
    ],
)
def test_referrer_host(referrer: str | None, own: str | None, expected: str | None) -> None:
    assert referrer_host(referrer, own) == expected
