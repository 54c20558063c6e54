"""Plausible's tracker (`@plausible-analytics/tracker`) and its Events API, on POST /api/event.

The tracker sends `{n, v, u, d, r, p, h, i}` (`v` is its version; `h: 1` means hash-based routing, not a
screen height) and `{n: "engagement", sd, e}` reports of scroll depth (%) and engaged time (ms). The
Events API sends the long names `name, url, domain, referrer, props`. Revenue (`$`) and the
interactive flag (`i`) are not stored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from collector.ingest.doors.hits import Hit, number, referrer, scalar_props, text

MAX_ENGAGED_MS = 86_400_000  # a day: longer reports are clamped


def carries(raw: dict[str, Any]) -> bool:
    """True for a Plausible payload: the snippet never sends `v` or the long names."""
    return "v" in raw or "domain" in raw or "name" in raw or "url" in raw


def translate(raw: dict[str, Any]) -> Hit:
    """One Plausible event as a Hit; an engagement report keeps only its depth and time."""
    name = text(raw.get("n")) or text(raw.get("name")) or "pageview"
    url = raw.get("u", raw.get("url"))
    if raw.get("h") and isinstance(url, str):
        url = _hash_route(url)
    domain = raw.get("d", raw.get("domain"))
    ours: dict[str, Any] = {
        "d": domain.split(",", 1)[0] if isinstance(domain, str) else domain,  # a rollup lists several: the first
        "n": name,
        "u": url,
        "r": referrer(raw.get("r", raw.get("referrer"))),
    }
    props = raw.get("p", raw.get("props"))
    if name == "engagement":
        depth = number(raw.get("sd"), "sd", 0, 100)
        engaged = number(raw.get("e", 0), "e", 0, MAX_ENGAGED_MS)
        return Hit(ours, (depth, engaged))
    if props:
        ours["p"] = scalar_props(props)
    return Hit(ours)


def _hash_route(url: str) -> str:
    """With hash-based routing the route is the fragment: https://a.com/#/cart becomes https://a.com/cart."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    route = parts.fragment
    if not route.startswith("/"):
        return url
    path, _, query = route.partition("?")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path, query or parts.query, ""))
