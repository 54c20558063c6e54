"""Hot routes as plain ASGI callables, answered before Starlette's middleware and router.

Starlette's routing, middleware chain and Request/Response objects cost about a third of the CPU of
an ingest request (measured with py-spy). The few routes called per page view or per personalised page
(POST /api/event, GET /api/segments) are answered here directly; everything else goes to Starlette.
Responses sent from here carry the same security headers the middleware adds elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.http.accesslog import AccessLog
from collector.http.accesslog import log as access_log
from collector.http.headers import ALWAYS, OTHER_CSP

log = logging.getLogger("collector.asgi")

RawHeaders = list[tuple[bytes, bytes]]
SECURITY: RawHeaders = [(k.lower().encode(), v.encode()) for k, v in ALWAYS.items()] + [
    (b"content-security-policy", OTHER_CSP.encode())
]
JSON_TYPE = (b"content-type", b"application/json")


class Direct(NamedTuple):
    """A route answered before Starlette: exact path, the methods it answers (for the API description), app."""

    path: str
    methods: frozenset[str]
    app: ASGIApp


class App(Starlette):
    """Starlette, with `direct` routes served without its middleware stack."""

    def __init__(self, *, direct: Sequence[Direct] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.direct_routes = tuple(direct)
        self.direct = {route.path: Guard(route.app) for route in direct}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.direct.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class Guard:
    """What Starlette's error middleware does for its routes: an unexpected error is logged and answered 500.

    It also writes the access log, when that is on (log_level = "debug"): one coroutine less per page view.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.logged = AccessLog(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if access_log.isEnabledFor(logging.DEBUG):
                await self.logged(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            # uvicorn refuses a second response start: then the answer was under way and is cut short.
            with contextlib.suppress(RuntimeError):
                await respond_json(send, 500, {"error": "internal error", "field": None})


def header_map(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name (the first of repeated names, as Starlette's Headers.get)."""
    out: dict[str, str] = {}
    for name, value in reversed(scope["headers"]):
        out[name.decode("latin-1")] = value.decode("latin-1")
    return out


def query_map(scope: Scope) -> dict[str, str]:
    """Query parameters by name (the last of repeated names, as Starlette's QueryParams.get); blanks kept."""
    query = scope["query_string"].decode("latin-1")
    if "%" in query or "+" in query:
        return dict(parse_qsl(query, keep_blank_values=True))
    out: dict[str, str] = {}
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            out[name] = value
    return out


def empty_answer_headers(headers: Sequence[tuple[bytes, bytes]]) -> RawHeaders:
    """Every header of an answer without a body, built once (see respond_prebuilt)."""
    return [*headers, *SECURITY, (b"content-length", b"0")]


async def respond(send: Send, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes = b"") -> None:
    all_headers = [*headers, *SECURITY]
    if status not in (204, 304):
        all_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


async def respond_prebuilt(send: Send, status: int, headers: RawHeaders) -> None:
    """An answer without a body whose complete header list was built once (empty_answer_headers)."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def respond_json(send: Send, status: int, content: Any, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await respond(send, status, [*headers, JSON_TYPE], orjson.dumps(content))
