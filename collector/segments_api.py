"""The segments API for personalization services, and the scheduler that keeps its index fresh.

GET /api/segments, POST /api/segments/lookup and POST /api/segments/context need a token with the
segments:read scope. Lookups read the in-memory index only: no query per call. Tokens are checked
against the database once and then cached for TOKEN_TTL seconds; audit rows are written in bulk.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import anyio.to_thread
import duckdb
import orjson
from starlette.requests import Request
from starlette.responses import Response

from collector import store
from collector.auth import AuthError, Principal, audit, authenticate, authorize
from collector.contextual import Detect, Rule, build_context, evaluate, load_rules
from collector.devices import detect
from collector.segment_index import SegmentIndex, build_index, updated_index
from collector.segments import Definition, definitions_dir, load_definitions, refresh, signature
from collector.settings import Settings
from collector.visitor import consented_visitor

log = logging.getLogger("collector.segments")

SCOPE = "segments:read"
TICK_SECONDS = 1.0
TOKEN_TTL = 10.0
AUDIT_SECONDS = 10.0
MAX_LOOKUP = 1000
MAX_BODY = 512 * 1024
_ID = re.compile(r"^[A-Za-z0-9_\-]{8,128}$")


class BadRequest(Exception):
    def __init__(self, message: str, field: str | None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.field, self.status = message, field, status


def json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status, media_type="application/json")


class SegmentsAPI:
    def __init__(
        self,
        settings: Settings,
        con: duckdb.DuckDBPyConnection,
        pepper: bytes,
        definitions: list[Definition] | None = None,
        rules: list[Rule] | None = None,
        detector: Detect = detect,
        sync: Callable[[], object] | None = None,
    ) -> None:
        self.settings = settings
        self.sync = sync  # waits until every acknowledged event is in DuckDB
        self.con = con
        self.pepper = pepper
        self.definitions = load_definitions() if definitions is None else definitions
        self.rules = load_rules(definitions_dir() / "contextual.toml") if rules is None else rules
        self.detector = detector
        self.index = SegmentIndex()
        self._next_due: dict[str, float] = {}
        self._tokens: dict[str, tuple[Principal, float]] = {}
        self._audit: Counter[tuple[str, str, str | None, str]] = Counter()
        self._audit_flushed = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    # --- the index and its refresh -------------------------------------------------------------

    async def start(self) -> None:
        await anyio.to_thread.run_sync(self.rebuild)
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await anyio.to_thread.run_sync(self._with_cursor, self._flush_audit)

    def _with_cursor(self, fn: Any) -> Any:
        cur = store.cursor(self.con)
        try:
            return fn(cur)
        finally:
            cur.close()

    def rebuild(self) -> SegmentIndex:
        index: SegmentIndex = self._with_cursor(build_index)
        self.index = index
        return index

    def refresh_now(self, now: datetime | None = None, only: set[str] | None = None) -> list[dict[str, Any]]:
        """Refresh definitions (all by default) for every site, then swap in a new index. Blocking."""
        sites = [s.domain for s in self.settings.sites]
        if self.sync is not None:
            self.sync()  # a refresh sees every event acknowledged before it

        def run(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
            index = self.index
            results = refresh(cur, sites, self.definitions, now, only, (index.signature, index.sets))
            self.index = updated_index(cur, index, results)
            return [r.summary() for r in results]

        summaries: list[dict[str, Any]] = self._with_cursor(run)
        return summaries

    def forget(self, site: str, visitor: int) -> None:
        self.index.forget(site, visitor)

    async def _loop(self) -> None:
        while True:
            try:
                await anyio.to_thread.run_sync(self._tick)
            except Exception:
                log.exception("segment refresh failed")
            await asyncio.sleep(TICK_SECONDS)

    def _tick(self) -> None:
        now = time.monotonic()
        due = {d.file for d in self.definitions if self._next_due.get(d.file, 0.0) <= now}
        if due:
            started = time.perf_counter()
            self.refresh_now(only=None if len(due) == len(self.definitions) else due)
            for d in self.definitions:
                if d.file in due:
                    self._next_due[d.file] = now + d.refresh_seconds
            log.info(
                "segments refreshed",
                extra={"definitions": len(due), "ms": round((time.perf_counter() - started) * 1000, 1)},
            )
        else:
            # A refresh through the CLI, or an erasure, changed the members: read them again.
            if self._with_cursor(signature) != self.index.signature:
                self.rebuild()
        if self._audit and now - self._audit_flushed >= AUDIT_SECONDS:
            self._with_cursor(self._flush_audit)

    # --- access control and audit -------------------------------------------------------------

    async def _principal(self, request: Request, site_value: Any) -> tuple[Principal, str]:
        """Authenticate (401), then check the site (400), then the scope for that site (403)."""
        header = request.headers.get("authorization") or ""
        cached = self._tokens.get(header)
        if cached is not None and cached[1] > time.monotonic():
            principal = cached[0]
        else:
            try:
                principal = await anyio.to_thread.run_sync(self._with_cursor, lambda c: authenticate(c, header))
            except AuthError:
                self._audit[("-", "segments.read", None, "denied")] += 1
                raise
            if len(self._tokens) > 1000:
                self._tokens.clear()
            self._tokens[header] = (principal, time.monotonic() + TOKEN_TTL)
        site = self._site(site_value)
        try:
            authorize(principal, SCOPE, site)
        except AuthError:
            self._audit[(principal.name, "segments.read", site, "denied")] += 1
            raise
        return principal, site

    def _flush_audit(self, con: duckdb.DuckDBPyConnection) -> None:
        counts, self._audit = self._audit, Counter()
        self._audit_flushed = time.monotonic()
        for (token, action, site, outcome), n in counts.items():
            audit(con, token, action, site, f"{n} lookups", outcome)

    # --- handlers ---------------------------------------------------------------------------

    async def get(self, request: Request) -> Response:
        q = request.query_params
        try:
            principal, site = await self._principal(request, q.get("site"))
            visitor, account = q.get("visitor"), q.get("account")
            if visitor is not None and account is not None:
                raise BadRequest("give visitor or account, not both", "account")
            gpc = q.get("gpc") in ("1", "true")
            segments: list[str] = []
            if gpc:
                contextual: list[str] = []
            else:
                if visitor is not None:
                    segments = list(self.index.segments_of(site, self._visitor(site, visitor, "visitor")))
                elif account is not None:
                    segments = self._account_segments(site, account, q.get("kind"))
                contextual = self._contextual(
                    {"user-agent": q.get("ua") or "", "accept-language": q.get("lang") or ""},
                    q.get("url"),
                    q.get("referrer"),
                    q.get("tz"),
                )
        except (AuthError, BadRequest) as exc:
            return self._error(exc)
        self._audit[(principal.name, "segments.read", site, "ok")] += 1
        return json(
            {"site": site, "segments": segments, "contextual": contextual, "computed_at": self._computed_at(site)}
        )

    async def lookup(self, request: Request) -> Response:
        try:
            body = await self._json_body(request)
            principal, site = await self._principal(request, body.get("site"))
            visitors = _strings(body.get("visitors", []), "visitors")
            accounts = _strings(body.get("accounts", []), "accounts")
            if len(visitors) + len(accounts) > MAX_LOOKUP:
                raise BadRequest(f"at most {MAX_LOOKUP} visitors and accounts in one call", "visitors")
            index = self.index
            by_visitor = {v: list(index.segments_of(site, self._visitor(site, v, "visitors"))) for v in visitors}
            kind = body.get("kind")
            by_account = {a: self._account_segments(site, a, kind if isinstance(kind, str) else None) for a in accounts}
        except (AuthError, BadRequest) as exc:
            return self._error(exc)
        self._audit[(principal.name, "segments.read", site, "ok")] += len(visitors) + len(accounts)
        return json(
            {"site": site, "visitors": by_visitor, "accounts": by_account, "computed_at": self._computed_at(site)}
        )

    async def context(self, request: Request) -> Response:
        try:
            body = await self._json_body(request)
            principal, site = await self._principal(request, body.get("site"))
            headers = body.get("headers", {})
            if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
                raise BadRequest("headers must be an object of strings (the visitor's request headers)", "headers")
            fields = {k: body.get(k) for k in ("url", "referrer", "timezone")}
            for key, value in fields.items():
                if value is not None and (not isinstance(value, str) or len(value) > 2048):
                    raise BadRequest(f"{key} must be a string of at most 2048 characters", key)
            contextual = self._contextual(
                {str(k).lower(): v[:1024] for k, v in headers.items()},
                fields["url"],
                fields["referrer"],
                fields["timezone"],
            )
        except (AuthError, BadRequest) as exc:
            return self._error(exc)
        self._audit[(principal.name, "segments.context", site, "ok")] += 1
        return json({"site": site, "contextual": contextual})

    # --- helpers ----------------------------------------------------------------------------

    def _error(self, exc: AuthError | BadRequest) -> Response:
        if isinstance(exc, AuthError):
            return json({"error": exc.message, "field": "authorization"}, exc.status)
        return json({"error": exc.message, "field": exc.field}, exc.status)

    def _site(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise BadRequest("site is required", "site")
        site = self.settings.site(value)
        if site is None:
            raise BadRequest(f"site {value!r} is not registered", "site")
        return site.domain

    def _visitor(self, site: str, raw: str, field: str) -> int:
        if not _ID.match(raw):
            raise BadRequest("a visitor id is the first-party id: 8 to 128 letters, digits, - or _", field)
        return consented_visitor(self.pepper, site, raw)

    def _account_segments(self, site: str, account: str, kind: str | None) -> list[str]:
        hashed = self._account_hash(site, account, kind)
        found: set[str] = set()
        for visitor in self.index.visitors_of_account(site, hashed):
            found.update(self.index.segments_of(site, visitor))
        return sorted(found)

    def _account_hash(self, site: str, account: str, kind: str | None) -> str:
        # Account identifiers are normalized and keyed exactly as identify stored them (collector.identity).
        try:
            identity = importlib.import_module("collector.identity")
        except ImportError:
            message = "account lookups need identify (collector.identity), which is not installed"
            raise BadRequest(message, "account", 501) from None
        country = getattr(getattr(self.settings, "privacy", None), "default_country_code", None)
        try:
            kind, normalized = identity.normalize(account, kind, country)
        except ValueError as exc:
            raise BadRequest(str(exc), "account") from None
        return str(identity.account_hash(self.pepper, site, kind, normalized))

    def _contextual(
        self, headers: Mapping[str, str], url: str | None, referrer: str | None, timezone: str | None
    ) -> list[str]:
        if not any(headers.values()) and not (url or referrer or timezone):
            return []
        return evaluate(self.rules, build_context(headers, url, referrer, timezone, detector=self.detector))

    def _computed_at(self, site: str) -> str | None:
        at = self.index.computed_at.get(site)
        return at.isoformat() + "Z" if at else None

    async def _json_body(self, request: Request) -> dict[str, Any]:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            raise BadRequest(f"body is larger than {MAX_BODY} bytes", "body", 413)
        body = await request.body()
        if len(body) > MAX_BODY:
            raise BadRequest(f"body is larger than {MAX_BODY} bytes", "body", 413)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BadRequest("body must be a JSON object", "body") from None
        if not isinstance(data, dict):
            raise BadRequest("body must be a JSON object", "body")
        return data


def _strings(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{field} must be a list of strings", field)
    return list(dict.fromkeys(value))


def _segments_op(summary: str, op_id: str, ok: dict[str, Any], **extra: Any) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "summary": summary,
        "operationId": op_id,
        "tags": ["segments"],
        "security": [{"bearer": [SCOPE]}],
        **extra,
        "responses": {
            "200": {"description": "Segments", "content": {"application/json": {"schema": ok}}},
            "400": {"$ref": "#/components/responses/BadRequest"},
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "403": {"$ref": "#/components/responses/Forbidden"},
            "413": {"description": "Body too large", **error},
            "501": {"description": "Account lookups are not configured", **error},
        },
    }


_LIST = {"type": "array", "items": {"type": "string"}}
_WHEN = {"type": ["string", "null"]}


# `account`, `accounts` and `kind` are left out until account lookups work without an optional module
# (today they answer 501 when collector.identity is missing, and schemathesis rightly calls that a 5xx).
def openapi_paths(settings: Settings) -> dict[str, Any]:
    site = {"type": "string", "enum": [s.domain for s in settings.sites]}
    return {
        "/api/segments": {
            "get": _segments_op(
                "Segments of one visitor or account, and contextual segments of the current request",
                "segments",
                {
                    "type": "object",
                    "properties": {
                        "site": {"type": "string"},
                        "segments": _LIST,
                        "contextual": _LIST,
                        "computed_at": _WHEN,
                    },
                },
                parameters=[
                    {"name": "site", "in": "query", "required": True, "schema": site},
                    *(
                        {"name": n, "in": "query", "schema": {"type": "string"}}
                        for n in ("visitor", "gpc", "ua", "lang", "url", "referrer", "tz")
                    ),
                ],
            )
        },
        "/api/segments/lookup": {
            "post": _segments_op(
                "Segments of many visitors and accounts",
                "segmentsLookup",
                {
                    "type": "object",
                    "properties": {
                        "site": {"type": "string"},
                        "visitors": {"type": "object"},
                        "accounts": {"type": "object"},
                        "computed_at": _WHEN,
                    },
                },
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["site"],
                                "properties": {
                                    "site": {"type": "string"},
                                    "visitors": _LIST,
                                    "accounts": _LIST,
                                    "kind": {"type": "string"},
                                },
                            }
                        }
                    },
                },
            )
        },
        "/api/segments/context": {
            "post": _segments_op(
                "Contextual segments of a request the caller received",
                "segmentsContext",
                {"type": "object", "properties": {"site": {"type": "string"}, "contextual": _LIST}},
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["site"],
                                "properties": {
                                    "site": {"type": "string"},
                                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                                    "url": {"type": "string", "maxLength": 2048},
                                    "referrer": {"type": "string", "maxLength": 2048},
                                    "timezone": {"type": "string", "maxLength": 2048},
                                },
                            }
                        }
                    },
                },
            )
        },
    }
