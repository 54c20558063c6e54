"""Events built directly, as the parser hands them to the pipeline: every field a test leaves out has a default."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from collector.events import Event, Request
from tests.conftest import DESKTOP_UA, SITE

NOW = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)
REQUEST = Request(ip="198.51.100.7", user_agent=DESKTOP_UA, hints={}, gpc=False, prefetch=False)
PARSED: dict[str, Any] = {
    "site": SITE,
    "name": "pageview",
    "url": "https://example.com/",
    "referrer": None,
    "screen_w": None,
    "screen_h": None,
    "language": None,
    "timezone": None,
    "client_hints": {},
    "raw_id": None,
    "props": {},
    "webdriver": False,
    "client_gpc": False,
    "ts": NOW,
    "request": REQUEST,
    "event_id": "00000000-0000-4000-8000-000000000001",
}


def event(**fields: Any) -> Event:
    """An event as parsed: the client's fields, with `fields` over the defaults (pipeline fields may be given too)."""
    return Event(**(PARSED | fields))


def request(**changes: Any) -> Request:
    """The default request with some of its fields changed (ip, user_agent, hints, gpc, prefetch)."""
    return REQUEST._replace(**changes)
