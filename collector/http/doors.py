"""The Umami door (POST /api/send) and the Matomo door (/matomo.php, /piwik.php), each answering as its clients expect.

They reuse ingest's checks (Ingest: origin, Referer, tokens, body cap) and mark the request with its
door (doors/read.py), so the journal process translates it and runs the same pipeline. The Plausible
door needs no route: its payloads arrive on /api/event (accept.py tells them apart).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope, Send

from collector.errors import ClientError
from collector.http.asgi import JSON_TYPE, Direct, header_map, respond, respond_json
from collector.http.ingest import VARY, Headers, Ingest
from collector.ingest.accept import SENDER, TOKEN
from collector.ingest.doors.read import DOOR, MATOMO, UMAMI
from collector.ingest.parsing import ParseError

# Matomo answers a tracking GET with a transparent 1x1 GIF unless told `send_image=0`.
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
GIF_HEADERS: Headers = [(b"content-type", b"image/gif"), (b"cache-control", b"no-store")]
UMAMI_OK = orjson.dumps({})
NOT_ALLOWED = {"error": "method not allowed", "field": None}
_SENDER_ONLY = frozenset({"token_auth", "ua", "cip"})  # used here, never passed on
# A request once read: the client address, its headers, and what it carries (a body, or Matomo's Tracking).
Read = tuple[str | None, dict[str, str], Any]


class Door:
    """What the Umami and Matomo doors share: who sent the request, and handing it to the pipeline."""

    methods: tuple[str, ...] = ("POST", "OPTIONS")

    def __init__(self, ingest: Callable[[], Ingest | None]) -> None:
        self.ingest = ingest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ingest = self.ingest()
        if ingest is None:
            await respond_json(send, 503, {"error": "the collector is starting or stopping", "field": None})
            return
        method = scope["method"]
        if method == "OPTIONS":
            await ingest.preflight(scope, send)
        elif method in self.methods:
            await self.receive(ingest, scope, receive, send)
        else:
            allow = [(b"allow", ", ".join(self.methods).encode())]
            await respond_json(send, 405, NOT_ALLOWED, allow)

    async def receive(self, ingest: Ingest, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_map(scope)
        origin = headers.get("origin")
        cors = (ingest.cors.get(origin) if origin is not None else None) or VARY
        try:
            address, payload = await self.read(ingest, scope, headers, receive)
        except ClientError as exc:
            await respond_json(send, exc.status, exc.as_json(), cors)
            return
        except ConnectionError:
            return  # the client left before sending its body: nobody to answer
        await self.forward(ingest, scope, send, (address, headers, payload), cors)

    async def read(
        self, ingest: Ingest, scope: Scope, headers: dict[str, str], receive: Receive
    ) -> tuple[str | None, Any]:
        """The client address and what the request carries, once its sender may send; else a ClientError."""
        raise NotImplementedError

    async def forward(self, ingest: Ingest, scope: Scope, send: Send, request: Read, cors: Headers) -> None:
        """Hand what was read to the pipeline, and answer."""
        raise NotImplementedError

    @staticmethod
    async def admit(ingest: Ingest, scope: Scope, headers: dict[str, str], token: str | None = None) -> str | None:
        """The client address of a request its sender may send (Ingest.vouch without Origin), else a ClientError."""
        peer = scope.get("client")
        address = peer[0] if peer else None
        origin = headers.get("origin")
        if origin is None:
            return await ingest.vouch(headers, address, token)
        if origin not in ingest.cors:
            raise ParseError("origin is not registered for any site", "origin", status=403)
        return address


class Umami(Door):
    """POST /api/send: answers 200 with a JSON object, as Umami does."""

    async def read(
        self, ingest: Ingest, scope: Scope, headers: dict[str, str], receive: Receive
    ) -> tuple[str | None, bytes]:
        address = await self.admit(ingest, scope, headers)
        return address, await ingest.read_body(headers, receive)

    async def forward(self, ingest: Ingest, scope: Scope, send: Send, request: Read, cors: Headers) -> None:
        address, headers, body = request
        headers[DOOR] = UMAMI
        if await ingest.submit(send, (address, headers, body), cors):
            await respond(send, 200, [*cors, JSON_TYPE], UMAMI_OK)


class Matomo(Door):
    """GET or POST /matomo.php (and /piwik.php): 204, a 1x1 GIF, or for a bulk request a JSON status."""

    methods = ("GET", "POST", "OPTIONS")

    async def read(
        self, ingest: Ingest, scope: Scope, headers: dict[str, str], receive: Receive
    ) -> tuple[str | None, Tracking]:
        body = await ingest.read_body(headers, receive, json_only=False) if scope["method"] == "POST" else b""
        tracking = _tracking(_query(scope), body)
        limit = ingest.settings.max_batch_events
        if len(tracking.requests) > limit:
            message = f"bulk request holds {len(tracking.requests)} requests; at most {limit} are allowed"
            raise ParseError(message, "requests")
        return await self.admit(ingest, scope, headers, tracking.token), tracking

    async def forward(self, ingest: Ingest, scope: Scope, send: Send, request: Read, cors: Headers) -> None:
        address, headers, tracking = request
        headers[DOOR] = MATOMO
        for group, (ua, cip) in _by_sender(tracking.requests, trusted=headers.get(SENDER) == TOKEN):
            sent = dict(headers)
            if ua is not None:
                sent["user-agent"] = ua
                for hint in [h for h in sent if h.startswith("sec-ch-ua")]:
                    del sent[hint]
            if not await ingest.submit(send, (cip or address, sent, orjson.dumps(group)), cors):
                return
        if tracking.bulk:
            tracked = {"status": "success", "tracked": len(tracking.requests), "invalid": 0}
            await respond_json(send, 200, tracked, cors)
        elif scope["method"] == "POST" or _query(scope).get("send_image", "1") == "0":
            await respond(send, 204, cors)
        else:
            await respond(send, 200, [*cors, *GIF_HEADERS], GIF)


class Tracking(NamedTuple):
    """A Matomo request's requests (parameters each), its token_auth, and whether it was a bulk request."""

    requests: list[dict[str, str]]
    token: str | None
    bulk: bool


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))


def _tracking(query: dict[str, str], body: bytes) -> Tracking:
    """The requests of a GET (its query), a form POST (query and body) or a bulk POST (a JSON body)."""
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ParseError("body is not valid JSON", "body") from None
        items = data.get("requests") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            raise ParseError("requests must be a non-empty list of query strings", "requests")
        token = data.get("token_auth") if isinstance(data.get("token_auth"), str) else None
        requests = [{**query, **dict(parse_qsl(i.split("?", 1)[-1], keep_blank_values=True))} for i in items]
        token = token or next((t for r in requests if (t := r.get("token_auth"))), None)
        return Tracking(requests, token, True)
    params = {**query, **dict(parse_qsl(text, keep_blank_values=True))} if text else query
    if not params:
        raise ParseError("no tracking parameters; send idsite, rec and url", "idsite")
    return Tracking([params], params.get("token_auth"), False)


def _by_sender(
    requests: list[dict[str, str]], trusted: bool
) -> list[tuple[list[dict[str, str]], tuple[str | None, str | None]]]:
    """The requests grouped by their `ua` and `cip` overrides, which only a token's holder may give."""
    groups: dict[tuple[str | None, str | None], list[dict[str, str]]] = {}
    for params in requests:
        key = (params.get("ua") or None, params.get("cip") or None) if trusted else (None, None)
        kept = {k: v for k, v in params.items() if k not in _SENDER_ONLY}
        groups.setdefault(key, []).append(kept)
    return [(group, key) for key, group in groups.items()]


def door_routes(ingest: Callable[[], Ingest | None]) -> list[Direct]:
    """The Umami and Matomo doors as direct routes (answered before Starlette, like /api/event)."""
    umami, matomo = Umami(ingest), Matomo(ingest)
    return [
        Direct("/api/send", frozenset(umami.methods), umami),
        Direct("/matomo.php", frozenset(matomo.methods), matomo),
        Direct("/piwik.php", frozenset(matomo.methods), matomo),
    ]
