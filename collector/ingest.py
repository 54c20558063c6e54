"""POST /api/event: read the body under a cap, parse it once, run the pipeline, await a durable commit.

A plain ASGI app (see asgi.py): it runs once per page view, so it reads the scope's headers itself
and answers with prebuilt header lists instead of going through Starlette's request and response objects.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from starlette.types import Receive, Scope, Send

from collector.asgi import BodyTimeouts, empty_answer_headers, header_map, respond, respond_json, respond_prebuilt
from collector.bots import PREFETCH_HEADERS, is_prefetch
from collector.clientip import client_ip, parse_proxies
from collector.events import Event, Request
from collector.parsing import ParseError, build_event, check_content_type, has_no_escapes, parse_body
from collector.pipeline import Pipeline
from collector.ratelimit import RateLimits
from collector.settings import Settings
from collector.writer import Sink, WriteFailed

log = logging.getLogger("collector.ingest")

HINT_HEADERS = (
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-model",
    "sec-ch-ua-platform",
    "sec-ch-ua-platform-version",
    "sec-ch-ua-full-version-list",
    "x-requested-with",
)
BODY_TIMEOUT_SECONDS = 10.0
Headers = list[tuple[bytes, bytes]]
VARY: Headers = [(b"vary", b"Origin")]
PREFLIGHT: Headers = [
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"Content-Type"),
    (b"access-control-max-age", b"86400"),
]


class Ingest:
    def __init__(self, settings: Settings, pipeline: Pipeline, sink: Sink, limits: RateLimits | None = None) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.sink = sink
        self.limits = limits
        self.proxies = parse_proxies(settings.trusted_proxies)
        self.all_origins = frozenset(o for s in settings.sites for o in s.origins)
        self.cors = {o: [(b"access-control-allow-origin", o.encode("latin-1")), *VARY] for o in self.all_origins}
        self.accepted_headers = {o: empty_answer_headers(cors) for o, cors in self.cors.items()}
        self.accepted = 0
        self.body_timeouts = BodyTimeouts(BODY_TIMEOUT_SECONDS)

    async def close(self) -> None:
        await self.body_timeouts.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "POST":
            await self.post(scope, receive, send)
        elif method == "OPTIONS":
            await self.preflight(scope, send)
        else:
            allow = [(b"allow", b"POST, OPTIONS")]
            await respond_json(send, 405, {"error": "method not allowed; use POST", "field": None}, allow)

    async def preflight(self, scope: Scope, send: Send) -> None:
        origin = header_map(scope).get("origin")
        cors = self.cors.get(origin) if origin is not None else None
        if cors is None:
            await respond_json(send, 403, {"error": "origin is not registered for any site", "field": "origin"}, VARY)
            return
        await respond(send, 204, [*cors, *PREFLIGHT])

    async def post(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_map(scope)
        origin = headers.get("origin")
        cors = (self.cors.get(origin) if origin is not None else None) or VARY
        peer = scope.get("client")
        forwarded_for, forwarded = headers.get("x-forwarded-for"), headers.get("forwarded")
        ip = client_ip(peer[0] if peer else None, forwarded_for, self.proxies, forwarded)
        user_agent = headers.get("user-agent", "")
        if self.limits is not None and (wait := self.limits.check_client(ip, user_agent)):
            await too_many(send, "this client sends too many events", wait, cors)
            return
        try:
            events = await self._parse(headers, receive, origin, ip, user_agent)
        except ParseError as exc:
            await respond_json(send, exc.status, exc.as_json(), cors)
            return
        except ConnectionError:
            return  # the client left before sending its body: nobody to answer
        if self.limits is not None:
            per_site = {events[0].site: 1} if len(events) == 1 else Counter(e.site for e in events)
            for site, count in per_site.items():
                if wait := self.limits.check_site(site, count):
                    await too_many(send, f"site {site} receives too many events", wait, cors)
                    return
        kept: list[Event] = []
        run = self.pipeline.run
        for event in events:
            event = run(event)
            if event.dropped is None:
                kept.append(event)
            else:
                self.sink.count_drop(event.site, event.dropped)
        if kept:
            try:
                await self.sink.write(kept)
            except WriteFailed as exc:
                log.error("events not stored: %s", exc)
                error = {"error": "events could not be stored; retry later", "field": None}
                await respond_json(send, 503, error, [*cors, (b"retry-after", b"1")])
                return
            self.accepted += len(kept)
        assert origin is not None  # _parse refused unknown origins
        await respond_prebuilt(send, 202, self.accepted_headers[origin])

    async def _parse(
        self, headers: dict[str, str], receive: Receive, origin: str | None, ip: str, user_agent: str
    ) -> list[Event]:
        if origin is None or origin not in self.cors:
            raise ParseError("origin is not registered for any site", "origin", status=403)
        limit = self.settings.max_body_bytes
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise ParseError(f"body is larger than {limit} bytes", "body", status=413)
        check_content_type(headers.get("content-type"))
        try:
            body = await self.body_timeouts.read(receive, limit)
        except TimeoutError:
            raise ParseError("body took too long to arrive", "body", status=408) from None
        if body is None:
            raise ParseError(f"body is larger than {limit} bytes", "body", status=413)
        raws = parse_body(body, self.settings.max_batch_events)
        ctx = Request(
            ip=ip,
            user_agent=user_agent,
            hints={h: v for h in HINT_HEADERS if (v := headers.get(h)) is not None},
            gpc=headers.get("sec-gpc") == "1" or headers.get("dnt") == "1",
            prefetch=is_prefetch({h: v for h in PREFETCH_HEADERS if (v := headers.get(h)) is not None}),
        )
        now = datetime.now(UTC)
        batch = len(raws) > 1
        clean = has_no_escapes(body)
        events = [build_event(raw, i if batch else None, ctx, now, clean) for i, raw in enumerate(raws)]
        for i, event in enumerate(events):
            site = self.settings.site(event.site)
            if site is None:
                raise ParseError(f"site {event.site!r} is not registered", "d", i if batch else None, status=403)
            if origin not in site.origins:
                raise ParseError(f"origin is not allowed for site {site.domain}", "origin", i if batch else None, 403)
        return events


async def too_many(send: Send, message: str, wait: int, cors: Headers) -> None:
    body = {"error": f"{message}; retry after {wait} s", "field": None}
    await respond_json(send, 429, body, [*cors, (b"retry-after", str(wait).encode())])
