"""Umami's tracker and `@umami/node`, on POST /api/send.

They send `{type: "event" | "identify", payload: {website, hostname, url, referrer, title, screen: "WxH",
language, name, data, id}}`. The browser script sends `url` as a path beside `hostname`; the node client
sends what its caller gives, or no URL at all for an event that belongs to no page (it is counted on the
site's root). `identify` stores nothing (profile data is not kept); `title` and `tag` are
not stored. `id` becomes the visitor id only for a site whose ids are sent after consent.
"""

from __future__ import annotations

from typing import Any

from collector.ingest.doors.hits import Hit, SiteIds, language, referrer, scalar_props, screen, text, visitor_id
from collector.ingest.parsing import ParseError


def translate(body: Any, ids: SiteIds) -> list[Hit]:
    """The hits of one Umami request: one event, or none for `identify`."""
    if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
        raise ParseError("body must be a JSON object with a payload object", "payload")
    kind = body.get("type", "event")
    if kind not in ("event", "identify"):
        raise ParseError('type must be "event" or "identify"', "type")
    payload: dict[str, Any] = body["payload"]
    website = payload.get("website")
    site = ids.umami.get(website.strip().lower()) if isinstance(website, str) else None
    if site is None:
        raise ParseError(
            f"website {str(website)[:40]!r} is not registered; set umami_website_id in its [[sites]] entry",
            "website",
            status=403,
        )
    if kind == "identify":
        return []
    w, h = screen(payload.get("screen"))
    raw: dict[str, Any] = {
        "d": site,
        "n": text(payload.get("name")) or "pageview",
        "u": _absolute(payload.get("url") or "/", text(payload.get("hostname")) or site),
        "r": referrer(payload.get("referrer")),
        "w": w,
        "h": h,
        "l": language(payload.get("language")),
        "id": visitor_id(site, ids, payload.get("id"), payload.get("distinctId")),
    }
    if payload.get("data"):
        raw["p"] = scalar_props(payload["data"])
    return [Hit(raw)]


def _absolute(url: Any, hostname: str) -> Any:
    """A path (what the browser script sends) on https://hostname; an absolute URL as it is."""
    if isinstance(url, str) and url.startswith("/"):
        return f"https://{hostname}{url}"
    return url
