"""The event: parsed once from a request, then refined by pipeline steps.

Event is an immutable NamedTuple: steps return `event._replace(...)`, about eight times cheaper than
dataclasses.replace on a frozen dataclass of this width, which mattered on the ingest hot path; its own
_replace below is about twice as fast again as namedtuple's (which walks all 33 fields through a dict).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple


class DropReason(enum.StrEnum):
    BOT = "bot"
    AUTOMATION = "automation"
    PREFETCH = "prefetch"
    PRIVACY_SIGNAL = "privacy_signal"
    INVALID_URL = "invalid_url"
    UNKNOWN_SITE = "unknown_site"
    FOREIGN_PAGE = "foreign_page"  # the page is on a host that is not the site's (collector.ingest.pipeline.hosts)


# The name an engagement report (scroll depth and engaged time of a page view) carries from ingest to the
# engagement table (collector.storage.batches), never to the events table: no client can send this name,
# since event names may hold no control characters.
ENGAGEMENT = "\x1fengagement"


class Request(NamedTuple):
    """What the pipeline may know about the HTTP request; held in memory only, never stored."""

    ip: str
    user_agent: str
    hints: Mapping[str, str]
    gpc: bool
    prefetch: bool


NO_UTM: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Device:
    """What device detection finds in a User-Agent and its Client Hints (collector.devices.detect)."""

    device_type: str | None = None
    device_brand: str | None = None
    device_model: str | None = None
    device_code: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    browser_name: str | None = None
    browser_version: str | None = None
    is_bot: bool = False
    bot_name: str | None = None


UNKNOWN_DEVICE = Device()


class _Fields(NamedTuple):
    # From the client, validated by the parser.
    site: str
    name: str
    url: str
    referrer: str | None
    screen_w: int | None
    screen_h: int | None
    language: str | None
    timezone: str | None
    client_hints: Mapping[str, str]
    raw_id: str | None
    props: Mapping[str, str]
    webdriver: bool
    client_gpc: bool
    ts: datetime
    request: Request
    event_id: str
    # Filled by the pipeline.
    path: str | None = None
    hostname: str | None = None
    referrer_host: str | None = None
    utm: Mapping[str, str] = NO_UTM
    anonymous: bool = False
    visitor: int | None = None
    consented: bool = False
    device: Device = UNKNOWN_DEVICE
    scrubbed: tuple[tuple[str, str], ...] = ()  # (kind, field) per identifier scrubbed or click id stripped
    dropped: DropReason | None = None


_INDEX = {name: i for i, name in enumerate(_Fields._fields)}


class Event(_Fields):
    __slots__ = ()

    def _replace(self, **changes: Any) -> Event:
        values = list(self)
        for name, value in changes.items():
            values[_INDEX[name]] = value
        return tuple.__new__(Event, values)
