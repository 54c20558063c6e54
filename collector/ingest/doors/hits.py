"""A Hit: one foreign tracking request in the collector's own fields, and how hits become Events.

Doors translate into the snippet's field names (`d`, `n`, `u`, `r`, `w`, `h`, `l`, `id`, `p`), so every
door's events pass the same validation (parsing.build_event). The sites map their old ids here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from collector.events import ENGAGEMENT, Event, Request
from collector.ingest.parsing import (
    LANGUAGE,
    MAX_PROP_KEY,
    MAX_PROP_VALUE,
    MAX_PROPS,
    MAX_SCREEN,
    ParseError,
    build_event,
)
from collector.settings import Settings

_SCREEN = re.compile(r"^\s*(\d{1,6})\s*[xX]\s*(\d{1,6})\s*$")
_ID = re.compile(r"^[A-Za-z0-9_\-]{8,128}$")


class Hit(NamedTuple):
    """One event in the collector's own fields; `engagement` is (scroll depth %, engaged ms) for a report."""

    raw: dict[str, Any]
    engagement: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class SiteIds:
    """The sites' old ids: Umami website ids and Matomo idsite numbers to domains, and who sends ids after consent."""

    umami: Mapping[str, str]
    matomo: Mapping[str, str]
    consented_ids: frozenset[str]

    @classmethod
    def of(cls, settings: Settings) -> SiteIds:
        sites = settings.sites
        return cls(
            {s.umami_website_id: s.domain for s in sites if s.umami_website_id},
            {str(s.matomo_site_id): s.domain for s in sites if s.matomo_site_id is not None},
            frozenset(s.domain for s in sites if s.ids_after_consent),
        )


def to_events(hits: list[Hit], request: Request, now: datetime) -> list[Event]:
    """Validate each hit as the snippet's events are validated; an engagement report gets its reserved name."""
    batch = len(hits) > 1
    events: list[Event] = []
    for i, hit in enumerate(hits):
        event = build_event(hit.raw, i if batch else None, request, now)
        if hit.engagement is not None:
            depth, engaged = hit.engagement
            event = event._replace(name=ENGAGEMENT, props={"sd": str(depth), "e": str(engaged)})
        events.append(event)
    return events


def screen(value: Any) -> tuple[int | None, int | None]:
    """ "1280x720" as (1280, 720); anything else as unknown."""
    match = _SCREEN.match(value) if isinstance(value, str) else None
    if match is None:
        return None, None
    w, h = int(match[1]), int(match[2])
    return (w if 0 < w <= MAX_SCREEN else None, h if 0 < h <= MAX_SCREEN else None)


def scalar_props(data: Any) -> dict[str, Any]:
    """The string, number and boolean values of a properties object; nested values and long keys are left out."""
    if not isinstance(data, dict):
        return {}
    props: dict[str, Any] = {}
    for key, value in data.items():
        if len(props) == MAX_PROPS:
            break
        if not isinstance(key, str) or not 0 < len(key) <= MAX_PROP_KEY:
            continue
        if isinstance(value, str):
            props[key] = value[:MAX_PROP_VALUE]
        elif isinstance(value, bool | int | float):
            props[key] = value
    return props


def language(value: Any) -> str | None:
    """A BCP 47 tag ("en_US" is read as "en-US"); anything else is unknown rather than an error."""
    tag = value.strip().replace("_", "-") if isinstance(value, str) else ""
    return tag if len(tag) <= 35 and LANGUAGE.match(tag) else None


def referrer(value: Any) -> str | None:
    """An absolute http(s) URL; "", a path or an app's referrer (android-app://…) is no referrer."""
    if isinstance(value, str) and value[:8].lower().startswith(("http://", "https://")):
        return value
    return None


def text(value: Any) -> str | None:
    """A string value, or None for anything else (a foreign field of the wrong type is ignored)."""
    return value if isinstance(value, str) and value.strip() else None


def visitor_id(site: str, ids: SiteIds, *candidates: Any) -> str | None:
    """The first well-formed id, when the site sends ids only after consent; otherwise none is used."""
    if site not in ids.consented_ids:
        return None
    for value in candidates:
        if isinstance(value, str) and _ID.match(value):
            return value
    return None


def number(value: Any, field: str, low: int, high: int) -> int:
    """A whole number within [low, high] (clamped at high), or a ParseError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < low:
        raise ParseError(f"{field} must be a number of at least {low}", field)
    return min(round(value), high)
