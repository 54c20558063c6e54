"""HTTP endpoints of the privacy engine: identify, erase, export, and CSP violation reports.

Erase and export accept two proofs of the right to the data: the visitor's own browser sending the
consented id it holds (from a registered origin, no token), or the site's backend with a token scoped
`erase` naming an account identifier (or the consented id). Error messages never repeat identifiers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio.to_thread
import duckdb
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector.access.auth import Principal, audit, authenticate, authorize
from collector.access.challenge import AuthError, challenge
from collector.errors import ClientError
from collector.http.bodies import json_object, read_capped
from collector.ingest.clientip import client_ip, parse_proxies
from collector.ingest.parsing import media_type
from collector.ingest.ratelimit import TokenBucket
from collector.privacy.csp import MEDIA_TYPES, ReportLimits, TooManyReports, parse_reports, record, third_party_counts
from collector.privacy.rights import RightsError, Subject, erase, export, link_identity, subject_for
from collector.settings import Settings
from collector.storage import store

log = logging.getLogger("collector.privacy")
MAX_BODY = 16 * 1024
BROWSER_REQUESTS_PER_MINUTE = 10
MAX_ADDRESSES = 10_000
T = TypeVar("T")


def per_minute(requests: int) -> TokenBucket:
    """`requests` a minute per client address, in memory only: a burst of that many, refilled over the minute."""
    return TokenBucket(requests / 60, requests, max_keys=MAX_ADDRESSES)


def _error(exc: ClientError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(exc.as_json(), exc.status, headers=(headers or {}) | challenge(exc.status))


class PrivacyAPI:
    def __init__(
        self,
        settings: Settings,
        con: duckdb.DuckDBPyConnection,
        pepper: bytes,
        sync: Callable[[], object] = lambda: None,
        forget: Callable[[str, int], object] = lambda site, visitor: None,
        seal_off: Callable[[], object] = lambda: None,
    ) -> None:
        self.settings = settings
        self.con = con
        self.pepper = pepper
        self.sync = sync  # loads every acknowledged event into DuckDB, so that erase and export see it
        self.forget = forget  # drops an erased visitor from in-memory indexes (segments) at once
        self.seal_off = seal_off  # loads and deletes the journal, where erased events could still be
        self.proxies = parse_proxies(settings.trusted_proxies)
        self.all_origins = frozenset(o for s in settings.sites for o in s.origins)
        self.limit = per_minute(BROWSER_REQUESTS_PER_MINUTE)
        self.csp_limits = ReportLimits(settings)

    def cors(self, origin: str | None) -> dict[str, str]:
        if origin is None or origin not in self.all_origins:
            return {"Vary": "Origin"}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    async def preflight(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin not in self.all_origins:
            return JSONResponse({"error": "origin is not registered for any site", "field": "origin"}, 403)
        headers = self.cors(origin) | {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
        }
        return Response(status_code=204, headers=headers)

    async def _in_thread(self, fn: Callable[[duckdb.DuckDBPyConnection], T], loaded: bool = False) -> T:
        def run() -> T:
            if loaded:
                self.sync()
            cur = store.cursor(self.con)
            try:
                return fn(cur)
            finally:
                cur.close()

        try:
            return await anyio.to_thread.run_sync(run)
        except duckdb.Error as exc:
            log.error("privacy operation failed: %s", type(exc).__name__)
            raise ClientError("the request could not be completed; retry later", None, 503) from None

    async def _json(self, request: Request, limit: int = MAX_BODY) -> dict[str, Any]:
        return json_object(await _read(request, limit))

    async def _principal(self, request: Request, scope: str, site: str | None, action: str) -> Principal:
        header = request.headers.get("authorization")

        def check(cur: duckdb.DuckDBPyConnection) -> Principal:
            principal = authenticate(cur, header)
            try:
                authorize(principal, scope, site)
            except AuthError:
                audit(cur, principal.name, action, site, None, "denied")
                raise
            return principal

        return await self._in_thread(check)

    async def identify(self, request: Request) -> Response:
        try:
            data = await self._json(request)
            site = _site_of(data)
            principal = await self._principal(request, "identify", site, "identify")

            def link(cur: duckdb.DuckDBPyConnection) -> str:
                try:
                    kind = link_identity(
                        cur,
                        self.pepper,
                        self.settings,
                        site or "",
                        data.get("visitor_id"),
                        data.get("account"),
                        data.get("kind"),
                    )
                except RightsError:
                    audit(cur, principal.name, "identify", site, None, "invalid")
                    raise
                audit(cur, principal.name, "identify", site, kind, "ok")
                return kind

            kind = await self._in_thread(link)
        except ClientError as exc:
            return _error(exc)
        return JSONResponse({"linked": True, "kind": kind})

    async def erase(self, request: Request) -> Response:
        return await self._right(request, "erase")

    async def export(self, request: Request) -> Response:
        return await self._right(request, "export")

    async def _right(self, request: Request, action: str) -> Response:
        origin = request.headers.get("origin")
        browser = "authorization" not in request.headers
        cors = self.cors(origin) if browser else {}
        run = erase if action == "erase" else export
        covered: list[Subject] = []
        try:
            data = await self._json(request)
            site = _site_of(data)
            if browser:
                self._check_browser(request, origin, site)
                raw_id = data.get("id", data.get("visitor_id"))
                if raw_id is None:
                    raise ClientError("id is required: the consented id this browser holds", "id")

                def from_browser(cur: duckdb.DuckDBPyConnection) -> dict[str, Any]:
                    subject = subject_for(cur, self.pepper, self.settings, site or "", visitor_id=raw_id)
                    covered.append(subject)
                    return run(cur, self.settings, subject, "browser")

                result = await self._in_thread(from_browser, loaded=True)
            else:
                principal = await self._principal(request, "erase", site, f"privacy.{action}")

                def from_backend(cur: duckdb.DuckDBPyConnection) -> dict[str, Any]:
                    try:
                        subject: Subject = subject_for(
                            cur,
                            self.pepper,
                            self.settings,
                            site or "",
                            visitor_id=data.get("visitor_id"),
                            account=data.get("account"),
                            kind=data.get("kind"),
                        )
                    except RightsError:
                        audit(cur, principal.name, f"privacy.{action}", site, None, "invalid")
                        raise
                    covered.append(subject)
                    result = run(cur, self.settings, subject, "backend")
                    audit(cur, principal.name, f"privacy.{action}", site, result["request"], "ok")
                    return result

                result = await self._in_thread(from_backend, loaded=True)
        except ClientError as exc:
            return _error(exc, cors)
        if action == "erase":
            for subject in covered:
                for visitor in subject.visitors:
                    self.forget(subject.site, visitor)
            await anyio.to_thread.run_sync(self.seal_off)
        return JSONResponse(result, headers=cors | {"Cache-Control": "no-store"})

    def _check_browser(self, request: Request, origin: str | None, site: str | None) -> None:
        conf = self.settings.site(site) if site else None
        if conf is None:
            raise ClientError("site is not registered", "d", 403)
        if origin is None or origin not in conf.origins:
            raise ClientError(f"origin is not allowed for site {conf.domain}", "origin", 403)
        peer = request.client.host if request.client else None
        if self.limit.take(client_ip(peer, request.headers.get("x-forwarded-for"), self.proxies)) > 0:
            raise ClientError("too many privacy requests from this address; retry in a minute", None, 429)

    async def csp_report(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        cors = self.cors(origin)
        limits = self.csp_limits
        try:
            peer = request.client.host if request.client else None
            ip = client_ip(peer, request.headers.get("x-forwarded-for"), self.proxies)
            limits.check_client(ip, request.headers.get("user-agent", ""))
            if media_type(request.headers.get("content-type")) not in MEDIA_TYPES:
                raise ClientError(
                    "content type must be application/csp-report or application/reports+json", "content-type", 415
                )
            body = await _read(request, limits.max_body)
            violations = parse_reports(body)
            name = request.query_params.get("site") or _site_from_origin(self.settings, origin)
            for v in violations if name is None else ():
                name = _site_from_origin(self.settings, _origin_of(v.document_url))
                if name:
                    break
            site = self.settings.site(name) if name else None
            if site is None:
                raise ClientError("site is not registered", "site", 403)
            limits.check_site(site.domain, len(violations))
            own = frozenset(h for h in (request.url.hostname, self.settings.host) if h)
            counts = third_party_counts(site, violations, own)
            day = datetime.now(UTC).date()
            await self._in_thread(lambda cur: record(cur, site.domain, day, counts))
        except ClientError as exc:
            limits.count(exc)
            wait = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyReports) else {}
            return _error(exc, cors | wait)
        return Response(status_code=204, headers=cors)


def _site_of(data: dict[str, Any]) -> str | None:
    site = data.get("site", data.get("d"))
    if site is not None and not isinstance(site, str):
        raise ClientError("site must be a string", "site")
    return site.strip().lower() if site else None


def _site_from_origin(settings: Settings, origin: str | None) -> str | None:
    for site in settings.sites:
        if origin in site.origins:
            return site.domain
    return None


def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


async def _read(request: Request, limit: int) -> bytes:
    body = await read_capped(request.receive, request.headers.get("content-length"), limit)
    if not body.strip():
        raise ClientError("request body is empty", "body")
    return body


def _privacy_op(
    summary: str,
    op_id: str,
    security: list[Any],
    ok: dict[str, Any],
    body: dict[str, Any],
    extra: dict[str, Any] | None = None,
    ok_status: str = "200",
) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    codes = {
        "400": "Bad request",
        "401": "No valid token",
        "403": "Not allowed (scope, site or origin)",
        "408": "Body too slow",
        "413": "Body too large",
        "415": "Wrong content type",
        "429": "Too many requests",
        "503": "Not completed; retry later",
    }
    responses: dict[str, Any] = {ok_status: ok} | {c: {"description": d, **error} for c, d in codes.items()}
    return {
        "summary": summary,
        "operationId": op_id,
        "tags": ["privacy"],
        "security": security,
        "requestBody": {"required": True, "content": body},
        "responses": responses,
    } | (extra or {})


def _preflight(op_id: str) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "summary": "CORS preflight for registered origins",
        "operationId": op_id,
        "tags": ["privacy"],
        "security": [],
        "parameters": [{"name": "Origin", "in": "header", "schema": {"type": "string"}}],
        "responses": {
            "204": {"description": "The origin may call"},
            "403": {"description": "The origin is not registered", **error},
        },
    }


_SUBJECT = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {
                "site": {"type": "string"},
                "d": {"type": "string"},
                "id": {"type": "string"},
                "visitor_id": {"type": "string"},
                "account": {"type": "string"},
                "kind": {"type": "string"},
            },
        }
    }
}
_JSON_OK = {"description": "Done", "content": {"application/json": {"schema": {"type": "object"}}}}
# The browser calls erase/export with its consented id and no token; a site's backend with an `erase` token.
_BROWSER_OR_TOKEN = [{}, {"bearer": ["erase"]}]
OPENAPI_PATHS: dict[str, Any] = {
    "/api/identify": {
        "post": _privacy_op(
            "Link a consented visitor id to an account (hashed)",
            "identify",
            [{"bearer": ["identify"]}],
            _JSON_OK,
            _SUBJECT,
        )
    },
    "/api/privacy/erase": {
        "post": _privacy_op("Erase one data subject's data", "erase", _BROWSER_OR_TOKEN, _JSON_OK, _SUBJECT),
        "options": _preflight("erasePreflight"),
    },
    "/api/privacy/export": {
        "post": _privacy_op("Export one data subject's data", "export", _BROWSER_OR_TOKEN, _JSON_OK, _SUBJECT),
        "options": _preflight("exportPreflight"),
    },
    "/api/csp-report": {
        "post": _privacy_op(
            "Receive Content-Security-Policy violation reports (third-party trackers on a site)",
            "cspReport",
            [],
            {"description": "Recorded"},
            {t: {"schema": {}} for t in ("application/csp-report", "application/reports+json", "application/json")},
            {"parameters": [{"name": "site", "in": "query", "schema": {"type": "string"}}]},
            ok_status="204",
        ),
        "options": _preflight("cspReportPreflight"),
    },
}
