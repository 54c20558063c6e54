"""POST /api/event: read the body under a cap, hand it to where the pipeline runs, answer once it is durable.

A plain ASGI app (see asgi.py): it runs once per page view, so it reads the scope's headers itself
and answers with prebuilt header lists instead of going through Starlette's request and response objects.
The checks that need no body (origin, size, content type) are made here; parsing, rate limits and the
pipeline (accept.py) run in the journal process for the embedded collector (ingest/handler.py), in
process on a scale-out ingest node.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from starlette.types import Receive, Scope, Send

from collector.durable.commits import WriteFailed
from collector.durable.counts import Tally
from collector.durable.wire import RawRequest, Refusal
from collector.http.asgi import (
    JSON_TYPE,
    empty_answer_headers,
    header_map,
    respond,
    respond_json,
    respond_prebuilt,
)
from collector.http.bodies import BodyTimeouts
from collector.ingest.parsing import ParseError, check_content_type
from collector.settings import Settings

log = logging.getLogger("collector.ingest")

BODY_TIMEOUT_SECONDS = 10.0
Headers = list[tuple[bytes, bytes]]
VARY: Headers = [(b"vary", b"Origin")]
PREFLIGHT: Headers = [
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"Content-Type"),
    (b"access-control-max-age", b"86400"),
]


class Backend(Protocol):
    """Accepts a request whose body has been read: None once its events are durable, else the refusal."""

    @property
    def tally(self) -> Tally: ...
    def submit(self, request: RawRequest) -> Coroutine[Any, Any, Refusal | None]: ...


class Ingest:
    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self.all_origins = frozenset(o for s in settings.sites for o in s.origins)
        self.cors = {o: [(b"access-control-allow-origin", o.encode("latin-1")), *VARY] for o in self.all_origins}
        self.accepted_headers = {o: empty_answer_headers(cors) for o, cors in self.cors.items()}
        self.body_timeouts = BodyTimeouts(BODY_TIMEOUT_SECONDS)

    @property
    def tally(self) -> Tally:
        return self.backend.tally

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
        try:
            body = await self._read(headers, receive, origin)
        except ParseError as exc:
            await respond_json(send, exc.status, exc.as_json(), cors)
            return
        except ConnectionError:
            return  # the client left before sending its body: nobody to answer
        peer = scope.get("client")
        try:
            refused = await self.backend.submit((peer[0] if peer else None, headers, body))
        except WriteFailed as exc:
            log.error("events not stored: %s", exc)
            error = {"error": "events could not be stored; retry later", "field": None}
            await respond_json(send, 503, error, [*cors, (b"retry-after", b"1")])
            return
        if refused is not None:
            extra = [(b"retry-after", str(refused.retry_after).encode())] if refused.retry_after else []
            await respond(send, refused.status, [*cors, *extra, JSON_TYPE], refused.body)
            return
        assert origin is not None  # _read refused unknown origins
        await respond_prebuilt(send, 202, self.accepted_headers[origin])

    async def _read(self, headers: dict[str, str], receive: Receive, origin: str | None) -> bytes:
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
        return body
