"""Ingest errors say what is wrong in the caller's terms: the rule a field breaks, not a library's words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collector.events import Request
from collector.ingest.parsing import ParseError, build_event, parse_body
from tests.conftest import DESKTOP_UA, SITE

REQUEST = Request(ip="203.0.113.9", user_agent=DESKTOP_UA, hints={}, gpc=False, prefetch=False)
NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.mark.parametrize("body", [b'{"d":"example.com","u":"https://example.com/\xff"}', b"\xef\xbb\xbf\xed\xa0\x80"])
def test_a_body_that_is_not_utf8_is_named_so(body: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        parse_body(body, 100)
    assert (caught.value.message, caught.value.field) == ("body is not valid UTF-8", "body")


def test_invalid_json_still_says_json() -> None:
    with pytest.raises(ParseError) as caught:
        parse_body(b'{"d": ', 100)
    assert caught.value.message.startswith("body is not valid JSON: ")


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("id", "short", "id must be 8 to 128 letters, digits, - or _"),
        ("id", "has spaces in it", "id must be 8 to 128 letters, digits, - or _"),
        ("l", "en_US!", "l must be a BCP 47 language tag like en-US"),
        ("tz", "Europe Berlin", "tz must be an IANA time zone like Europe/Berlin"),
    ],
)
def test_a_field_held_to_a_pattern_gives_its_rule(field: str, value: str, rule: str) -> None:
    raw = {"d": SITE, "u": "https://example.com/", field: value}
    with pytest.raises(ParseError) as caught:
        build_event(raw, None, REQUEST, NOW)
    assert (caught.value.message, caught.value.field) == (rule, field)


def test_a_language_or_time_zone_is_judged_the_same_each_time_it_comes() -> None:
    for _ in range(3):  # answers per value are kept: a bad value is refused every time, a good one kept
        for field, attribute, good, bad in (
            ("l", "language", "de-CH", "de CH"),
            ("tz", "timezone", "America/Sao_Paulo", "America Sao_Paulo"),
        ):
            kept = build_event({"d": SITE, "u": "https://example.com/", field: good}, None, REQUEST, NOW)
            assert getattr(kept, attribute) == good
            with pytest.raises(ParseError) as caught:
                build_event({"d": SITE, "u": "https://example.com/", field: bad}, None, REQUEST, NOW)
            assert caught.value.field == field
