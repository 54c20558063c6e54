"""Property tests of the event parser: whatever arrives, the answer is events or a documented 4xx."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.events import Event, Request
from collector.ingest.parsing import ParseError, build_event, check_content_type, parse_body
from tests.conftest import DESKTOP_UA, SITE
from tests.strategies import DOCUMENTED, KEYS, json_values, plausible

REQUEST = Request(ip="203.0.113.9", user_agent=DESKTOP_UA, hints={}, gpc=False, prefetch=False)
NOW = datetime(2026, 11, 25, tzinfo=UTC)


def parse(body: bytes) -> list[Event]:
    """The whole parser, as ingest runs it: decode, then build each event."""
    raws = parse_body(body, max_events=100)
    batch = len(raws) > 1
    return [build_event(raw, i if batch else None, REQUEST, NOW) for i, raw in enumerate(raws)]


def check(body: bytes) -> None:
    try:
        events = parse(body)
    except ParseError as exc:
        assert exc.status in DOCUMENTED
        answer: dict[str, Any] = exc.as_json()
        assert isinstance(answer["error"], str) and answer["error"]
        assert answer["field"] is None or isinstance(answer["field"], str)
        orjson.dumps(answer)
        return
    for event in events:
        assert event.site and event.url.lower().startswith(("http://", "https://"))
        assert event.screen_w is None or 0 < event.screen_w <= 100_000
        assert all(isinstance(v, str) for v in event.props.values())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_fail_with_a_documented_status(body: bytes) -> None:
    check(body)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_value_parses_or_fails_with_a_documented_status(value: Any) -> None:
    check(orjson.dumps(value))


@settings(max_examples=200, deadline=None)
@given(st.one_of(plausible, st.lists(plausible, min_size=1, max_size=4)))
def test_event_shaped_objects_parse_or_name_the_bad_field(value: Any) -> None:
    try:
        events = parse(orjson.dumps(value))
    except ParseError as exc:
        assert exc.status == 400
        assert exc.field in {"body", *KEYS}
        return
    assert len(events) == (len(value) if isinstance(value, list) else 1)


@given(st.text(max_size=60))
def test_any_content_type_is_accepted_or_415(content_type: str) -> None:
    try:
        check_content_type(content_type)
    except ParseError as exc:
        assert exc.status == 415


def test_floats_are_rounded_screen_sizes() -> None:
    events = parse(orjson.dumps({"d": SITE, "u": "https://example.com/", "w": 390.6, "h": math.pi}))
    assert (events[0].screen_w, events[0].screen_h) == (391, 3)
