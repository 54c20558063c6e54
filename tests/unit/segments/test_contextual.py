"""Contextual segments: rules over the request's own context, no stored id."""

from __future__ import annotations

import pytest

from collector.segments.contextual import (
    RuleError,
    build_context,
    evaluate,
    load_rules,
    parse_rules,
    preferred_language,
)
from collector.segments.definitions import definitions_dir

ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"
)


def test_shipped_rules_place_a_request_by_device_language_referrer_and_campaign() -> None:
    rules = load_rules(definitions_dir() / "contextual.toml")
    ctx = build_context(
        {"user-agent": ANDROID_UA, "accept-language": "en;q=0.3, vi-VN", "referer": "https://m.facebook.com/"},
        url="https://example.com/?utm_source=Zalo&utm_medium=Email",
        timezone="Asia/Saigon",
    )
    expected = ["mobile", "android", "lang_vi", "tz_vietnam", "from_social", "from_campaign", "email"]
    assert evaluate(rules, ctx) == expected


def test_gpc_dnt_and_bots_are_in_no_contextual_segment() -> None:
    rules = load_rules(definitions_dir() / "contextual.toml")
    assert evaluate(rules, build_context({"user-agent": ANDROID_UA, "dnt": "1"})) == []
    assert evaluate(rules, build_context({"user-agent": ANDROID_UA, "sec-gpc": "1"})) == []
    assert evaluate(rules, build_context({"user-agent": "curl/8.0"})) == []


def test_internal_navigation_is_not_a_referrer() -> None:
    rules = parse_rules("[came_from_outside]\nreferred = true\n[direct]\nreferred = false\n")
    ctx = build_context({"referer": "https://example.com/a"}, url="https://example.com/b")
    assert evaluate(rules, ctx) == ["direct"]


def test_referrer_patterns_match_labels_or_domains() -> None:
    rules = parse_rules('[s]\nreferrer = ["google", "t.co"]\n')
    for referrer, expected in [
        ("https://www.google.com.vn/search", ["s"]),
        ("https://t.co/abc", ["s"]),
        ("https://notgoogle.com/", []),
        ("https://start.co/", []),
    ]:
        assert evaluate(rules, build_context({}, referrer=referrer)) == expected, referrer


@pytest.mark.parametrize(
    "header, expected",
    [("vi-VN,vi;q=0.9,en;q=0.8", "vi"), ("en;q=0.1, fr", "fr"), ("*", None), ("", None), ("de;q=x, es", "es")],
)
def test_the_preferred_language_is_the_highest_quality_tag(header: str, expected: str | None) -> None:
    assert preferred_language(header) == expected


def test_malformed_rules_are_refused_with_their_name() -> None:
    with pytest.raises(RuleError, match=r"\[x\] colour"):
        parse_rules('[x]\ncolour = ["red"]\n')
    with pytest.raises(RuleError, match="no condition"):
        parse_rules('[x]\ndescription = "nothing"\n')
    with pytest.raises(RuleError, match="not valid TOML"):
        parse_rules("[x\n")


def test_the_context_reads_the_same_hint_headers_as_ingest() -> None:
    # An Android app's WebView sends its package name; ingest calls that browser a WebView, and so does the context.
    rules = parse_rules('[in_app]\nbrowser = ["Chrome Mobile WebView"]\n')
    in_app = build_context({"user-agent": ANDROID_UA, "x-requested-with": "com.example.app"})
    assert in_app.browser == "Chrome Mobile WebView"
    assert evaluate(rules, in_app) == ["in_app"]
    assert evaluate(rules, build_context({"user-agent": ANDROID_UA})) == []
