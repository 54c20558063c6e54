"""POST /api/event: read the body under a cap, hand it to where the pipeline runs, answer once it is durable.

A plain ASGI app (see asgi.py): it runs once per page view, so it reads the scope's headers itself
and answers with prebuilt header lists instead of going through Starlette's request and response objects.
The checks that need no body (origin, size, content type) are made here; parsing, rate limits and the
pipeline (accept.py) run in the journal process for the embedded collector (ingest/handler.py), in
process on a scale-out ingest node. A request without Origin is a browser's when its Referer is a
registered origin; otherwise it is a server's, and an ingest token (which only the server can look up)
says so here, while the site's `server_side` is checked with the events (accept.py). The other doors
(doors.py) use the same checks.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from starlette.types import Receive, Scope, Send

from collector.access.challenge import AuthError, raw_challenge
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
from collector.ingest.accept import NO_ORIGIN, SENDER, SERVER, TOKEN, TOKEN_SITES
from collector.ingest.doors.read import DOOR
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


class Holder(Protocol):
    """Who holds a token (collector.access.auth.Principal): the sites it may act for (None: all), its scopes."""

    @property
    def sites(self) -> frozenset[str] | None: ...
    def allows(self, scope: str, site: str | None = None) -> bool: ...


class Tokens(Protocol):
    """The server's API tokens (collector.access.guard.Access); principal raises a ClientError (401) for a bad one."""

    async def principal(self, authorization: str | None) -> Holder: ...


class Ingest:
    def __init__(self, settings: Settings, backend: Backend, access: Tokens | None = None) -> None:
        self.settings = settings
        self.backend = backend
        self.access = access  # the server's tokens; None where there are none (a scale-out ingest node)
        self.all_origins = frozenset(o for s in settings.sites for o in s.origins)
        self.cors = {o: [(b"access-control-allow-origin", o.encode("latin-1")), *VARY] for o in self.all_origins}
        self.accepted_headers = {o: empty_answer_headers(cors) for o, cors in self.cors.items()}
        self.accepted_plain = empty_answer_headers(VARY)
        self.server_side = any(s.server_side for s in settings.sites)  # else a sender without Origin needs a token
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
            said = "the Origin header is missing" if origin is None else "origin is not registered for any site"
            await respond_json(send, 403, {"error": said, "field": "origin"}, VARY)
            return
        await respond(send, 204, [*cors, *PREFLIGHT])

    async def post(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_map(scope)
        origin = headers.get("origin")
        cors = (self.cors.get(origin) if origin is not None else None) or VARY
        peer = scope.get("client")
        address = peer[0] if peer else None
        try:
            if origin is None:
                address = await self.vouch(headers, address)
            elif origin not in self.cors:
                raise ParseError("origin is not registered for any site", "origin", status=403)
            body = await self.read_body(headers, receive)
        except (ParseError, AuthError) as exc:
            await respond_json(send, exc.status, exc.as_json(), [*cors, *raw_challenge(exc.status)])
            return
        except ConnectionError:
            return  # the client left before sending its body: nobody to answer
        if await self.submit(send, (address, headers, body), cors):
            await respond_prebuilt(send, 202, self.accepted_headers[origin] if origin else self.accepted_plain)

    async def submit(self, send: Send, request: RawRequest, cors: Headers) -> bool:
        """Hand the request to the pipeline: True once its events are durable, else False with the error answered."""
        try:
            refused = await self.backend.submit(request)
        except WriteFailed as exc:
            log.error("events not stored: %s", exc)
            error = {"error": "events could not be stored; retry later", "field": None}
            await respond_json(send, 503, error, [*cors, (b"retry-after", b"1")])
            return False
        if refused is not None:
            extra = [(b"retry-after", str(refused.retry_after).encode())] if refused.retry_after else []
            await respond(send, refused.status, [*cors, *extra, JSON_TYPE], refused.body)
            return False
        return True

    async def vouch(self, headers: dict[str, str], address: str | None, token: str | None = None) -> str | None:
        """Say who sent a request without Origin, in its headers; return the client address to use.

        A Referer from a registered origin stands for the Origin. Without one, an ingest token (the
        Authorization header, or `token`, a door's own parameter) may send for its sites, and its holder
        may say whose address the request carries (X-Forwarded-For); without a token, the sender is a
        server, which only a site with `server_side = true` accepts (accept.py).
        """
        for key in (SENDER, TOKEN_SITES, DOOR):
            headers.pop(key, None)
        referer = headers.get("referer")
        if referer is not None:
            registered = origin_of(referer)
            if registered in self.cors:
                headers["origin"] = registered
                return address
        authorization = headers.get("authorization") or (f"Bearer {token}" if token else None)
        if authorization is None:
            if referer is not None:
                raise ParseError("referer is not registered for any site", "referer", status=403)
            if not self.server_side:
                raise ParseError(NO_ORIGIN, "origin", status=403)
            headers[SENDER] = SERVER
            return address
        if self.access is None:
            raise ParseError("this node takes no API tokens; send from a registered origin", None, status=401)
        principal = await self.access.principal(authorization)
        if not principal.allows("ingest"):
            raise ParseError("this token lacks the ingest scope", None, status=403)
        headers[SENDER] = TOKEN
        headers[TOKEN_SITES] = "*" if principal.sites is None else ",".join(sorted(principal.sites))
        forwarded = headers.pop("x-forwarded-for", None)
        headers.pop("forwarded", None)
        return forwarded.split(",", 1)[0].strip() if forwarded else address

    async def read_body(self, headers: dict[str, str], receive: Receive, json_only: bool = True) -> bytes:
        """The body, under the size cap and the time limit; `json_only` refuses other content types (415)."""
        limit = self.settings.max_body_bytes
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise ParseError(f"body is larger than {limit} bytes", "body", status=413)
        if json_only:
            check_content_type(headers.get("content-type"))
        try:
            body = await self.body_timeouts.read(receive, limit)
        except TimeoutError:
            raise ParseError("body took too long to arrive", "body", status=408) from None
        if body is None:
            raise ParseError(f"body is larger than {limit} bytes", "body", status=413)
        return body


def origin_of(url: str) -> str | None:
    """The origin (scheme://host[:port]) of an absolute http(s) URL, lower-cased; None for anything else."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return f"{scheme.lower()}://{host.lower()}" if host and "@" not in host else None
