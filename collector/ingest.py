"""POST /api/event: read the body under a cap, parse it once, run the pipeline, await a durable commit."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime

from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, Response

from collector.bots import is_prefetch
from collector.clientip import client_ip, parse_proxies
from collector.events import Event, Request
from collector.parsing import ParseError, build_event, check_content_type, parse_body
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


class Ingest:
    def __init__(self, settings: Settings, pipeline: Pipeline, sink: Sink, limits: RateLimits | None = None) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.sink = sink
        self.limits = limits
        self.proxies = parse_proxies(settings.trusted_proxies)
        self.all_origins = frozenset(o for s in settings.sites for o in s.origins)
        self.accepted = 0

    def cors_headers(self, origin: str | None) -> dict[str, str]:
        if origin is None or origin not in self.all_origins:
            return {"Vary": "Origin"}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    async def preflight(self, request: HTTPRequest) -> Response:
        origin = request.headers.get("origin")
        if origin not in self.all_origins:
            return JSONResponse({"error": "origin is not registered for any site", "field": "origin"}, 403)
        headers = self.cors_headers(origin) | {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
        }
        return Response(status_code=204, headers=headers)

    async def __call__(self, request: HTTPRequest) -> Response:
        headers = request.headers
        origin = headers.get("origin")
        cors = self.cors_headers(origin)
        ip = client_ip(
            request.client.host if request.client else None,
            headers.get("x-forwarded-for"),
            self.proxies,
            headers.get("forwarded"),
        )
        if self.limits is not None and (wait := self.limits.check_client(ip, headers.get("user-agent", ""))):
            return too_many("this client sends too many events", wait, cors)
        try:
            events = await self._parse(request, origin, ip)
        except ParseError as exc:
            return JSONResponse(exc.as_json(), exc.status, headers=cors)
        if self.limits is not None:
            for site, count in Counter(e.site for e in events).items():
                if wait := self.limits.check_site(site, count):
                    return too_many(f"site {site} receives too many events", wait, cors)
        kept: list[Event] = []
        for event in events:
            event = self.pipeline.run(event)
            if event.dropped is None:
                kept.append(event)
            else:
                self.sink.count_drop(event.site, event.dropped)
        if kept:
            try:
                await self.sink.write(kept)
            except WriteFailed as exc:
                log.error("events not stored: %s", exc)
                return JSONResponse(
                    {"error": "events could not be stored; retry later", "field": None},
                    503,
                    headers=cors | {"Retry-After": "1"},
                )
            self.accepted += len(kept)
        return Response(status_code=202, headers=cors)

    async def _parse(self, request: HTTPRequest, origin: str | None, ip: str) -> list[Event]:
        if origin is None or origin not in self.all_origins:
            raise ParseError("origin is not registered for any site", "origin", status=403)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.settings.max_body_bytes):
            raise ParseError(f"body is larger than {self.settings.max_body_bytes} bytes", "body", status=413)
        check_content_type(request.headers.get("content-type"))
        body = await self._read(request)
        raws = parse_body(body, self.settings.max_batch_events)
        headers = request.headers
        ctx = Request(
            ip=ip,
            user_agent=headers.get("user-agent", ""),
            hints={h: v for h in HINT_HEADERS if (v := headers.get(h)) is not None},
            gpc=headers.get("sec-gpc") == "1" or headers.get("dnt") == "1",
            prefetch=is_prefetch(headers),
        )
        now = datetime.now(UTC)
        batch = len(raws) > 1
        events = [build_event(raw, i if batch else None, ctx, now) for i, raw in enumerate(raws)]
        for i, event in enumerate(events):
            site = self.settings.site(event.site)
            if site is None:
                raise ParseError(f"site {event.site!r} is not registered", "d", i if batch else None, status=403)
            if origin not in site.origins:
                raise ParseError(f"origin is not allowed for site {site.domain}", "origin", i if batch else None, 403)
        return events

    async def _read(self, request: HTTPRequest) -> bytes:
        limit = self.settings.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ParseError(f"body is larger than {limit} bytes", "body", status=413)
                    chunks.append(chunk)
        except TimeoutError:
            raise ParseError("body took too long to arrive", "body", status=408) from None
        return b"".join(chunks)


def too_many(message: str, wait: int, headers: dict[str, str]) -> Response:
    body = {"error": f"{message}; retry after {wait} s", "field": None}
    return JSONResponse(body, 429, headers=headers | {"Retry-After": str(wait)})
