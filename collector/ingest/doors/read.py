"""Which door a request came through, and its hits: what the acceptor asks before it builds events.

The HTTP side marks a request of the Umami or Matomo door with the DOOR key among its headers (a key
no client can send: header names hold no colon); a Plausible payload on /api/event is recognised by its
fields. A Matomo request reaches here as the JSON list of its requests' parameters.
"""

from __future__ import annotations

from typing import Any

import orjson

from collector.ingest.doors import matomo, umami
from collector.ingest.doors.hits import Hit, SiteIds
from collector.ingest.doors.plausible import translate as plausible
from collector.ingest.parsing import ParseError

DOOR = ":door"
UMAMI = "umami"
MATOMO = "matomo"


def door_hits(door: str | None, body: bytes, raws: list[dict[str, Any]] | None, ids: SiteIds) -> list[Hit]:
    """The hits of a request through `door`, or of Plausible payloads already decoded (`raws`)."""
    if door == UMAMI:
        return umami.translate(_json(body), ids)
    if door == MATOMO:
        requests = _json(body)
        if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
            raise ParseError("requests must be a list of query strings", "requests")
        return matomo.translate(requests, ids)
    return [plausible(raw) for raw in raws or ()]


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ParseError("body is not valid JSON", "body") from None
