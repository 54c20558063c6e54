"""From one ingest request's headers and body to the events to store, or the refusal to answer.

The event loop only reads the body; this runs wherever the pipeline runs: in the server's journal
process (handler.py) for the embedded collector, in process on a scale-out ingest node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import NamedTuple

import orjson

from collector.devices import hardware
from collector.devices.bots import PREFETCH_HEADERS, is_prefetch
from collector.devices.detect import HINT_HEADERS, Detector
from collector.durable.counts import Tally
from collector.durable.wire import Refusal
from collector.events import DropReason, Event, Request
from collector.ingest.clientip import client_ip, parse_proxies
from collector.ingest.doors.hits import SiteIds, to_events
from collector.ingest.doors.plausible import carries as is_plausible
from collector.ingest.doors.read import DOOR, door_hits
from collector.ingest.parsing import ParseError, build_event, has_no_escapes, parse_body
from collector.ingest.pipeline.steps import Pipeline
from collector.ingest.ratelimit import RateLimits
from collector.settings import Settings

# Set by the HTTP side for a request that has neither Origin nor Referer (keys no client can send: header
# names hold no colon): SERVER, or TOKEN and the sites its ingest token may send for ("*" for all, else
# comma-separated).
SENDER = ":sender"
TOKEN_SITES = ":token-sites"
SERVER = "server"
TOKEN = "token"
NO_ORIGIN = (
    "requests without Origin or Referer are accepted only for a site with server_side = true or with an ingest token"
)


def refusal(status: int, message: str, field: str | None = None, retry_after: int = 0) -> Refusal:
    return Refusal(status, orjson.dumps({"error": message, "field": field}), retry_after)


class Verdict(NamedTuple):
    events: list[Event]  # the events to store: none when refused, and not the dropped ones
    refused: Refusal | None = None


class Acceptor:
    """Rate limits, parsing, the site checks and the pipeline for one request at a time."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        limits: RateLimits | None,
        count_drop: Callable[[str, DropReason], None],
        detector: Detector | None = None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.limits = limits
        self.count_drop = count_drop
        self.detector = detector
        self.proxies = parse_proxies(settings.trusted_proxies)
        self.sites = {site.domain: frozenset(site.origins) for site in settings.sites}
        self.server_side = frozenset(site.domain for site in settings.sites if site.server_side)
        self.site_ids = SiteIds.of(settings)

    def accept(self, peer: str | None, headers: Mapping[str, str], body: bytes) -> Verdict:
        """The request's surviving events, or why it is refused. The origin is already known to be registered."""
        forwarded_for, forwarded = headers.get("x-forwarded-for"), headers.get("forwarded")
        ip = client_ip(peer, forwarded_for, self.proxies, forwarded)
        user_agent = headers.get("user-agent", "")
        limits = self.limits
        if limits is not None and (wait := limits.check_client(ip, user_agent)):
            return Verdict([], too_many("this client sends too many events", wait))
        try:
            events = self._parse(headers, body, ip, user_agent)
        except ParseError as exc:
            return Verdict([], Refusal(exc.status, orjson.dumps(exc.as_json())))
        if limits is not None:
            per_site = {events[0].site: 1} if len(events) == 1 else Counter(e.site for e in events)
            for site, count in per_site.items():
                if wait := limits.check_site(site, count):
                    return Verdict([], too_many(f"site {site} receives too many events", wait))
        kept: list[Event] = []
        run = self.pipeline.run
        for event in events:
            event = run(event)
            if event.dropped is None:
                kept.append(event)
            else:
                self.count_drop(event.site, event.dropped)
        return Verdict(kept)

    def _parse(self, headers: Mapping[str, str], body: bytes, ip: str, user_agent: str) -> list[Event]:
        door = headers.get(DOOR)
        raws = None if door else parse_body(body, self.settings.max_batch_events)
        ctx = Request(
            ip=ip,
            user_agent=user_agent,
            hints={h: v for h in HINT_HEADERS if (v := headers.get(h)) is not None},
            gpc=headers.get("sec-gpc") == "1" or headers.get("dnt") == "1",
            prefetch=is_prefetch({h: v for h in PREFETCH_HEADERS if (v := headers.get(h)) is not None}),
        )
        now = datetime.now(UTC)
        if raws is None or is_plausible(raws[0]):
            events = to_events(door_hits(door, body, raws, self.site_ids), ctx, now)
        else:
            clean = has_no_escapes(body)
            events = [build_event(raw, i if len(raws) > 1 else None, ctx, now, clean) for i, raw in enumerate(raws)]
        batch = len(events) > 1
        origin = headers.get("origin")
        sites = self.sites
        for i, event in enumerate(events):
            origins = sites.get(event.site)
            if origins is None:
                raise ParseError(f"site {event.site!r} is not registered", "d", i if batch else None, status=403)
            if origin not in origins and not self._sender_may_send(headers, event.site):
                message = NO_ORIGIN if origin is None else f"origin is not allowed for site {event.site}"
                raise ParseError(message, "origin", i if batch else None, 403)
        return events

    def _sender_may_send(self, headers: Mapping[str, str], site: str) -> bool:
        """A sender with neither Origin nor Referer: a server, for a server-side site, or an ingest token's holder."""
        sender = headers.get(SENDER)
        if sender == SERVER:
            return site in self.server_side
        if sender == TOKEN:
            sites = headers.get(TOKEN_SITES, "")
            return sites == "*" or site in sites.split(",")
        return False

    def tally(self, accepted: int = 0) -> Tally:
        """The counters as they stand (accepted is the caller's: only it knows what was stored)."""
        limits, detector = self.limits, self.detector
        return Tally(
            accepted=accepted,
            drops=Counter(self.pipeline.drops),
            limited=Counter(limits.limited) if limits else Counter(),
            clients=len(limits.client) if limits and limits.client else 0,
            device_hits=detector.hits if detector else 0,
            device_misses=detector.misses if detector else 0,
            rules_complete=hardware.complete(),
        )


def too_many(message: str, wait: int) -> Refusal:
    return refusal(429, f"{message}; retry after {wait} s", None, wait)
