"""The segments API for personalization services, as plain ASGI routes answered before Starlette.

GET /api/segments, POST /api/segments/lookup and POST /api/segments/context need a token with the
segments:read scope, checked against the server's in-memory token index (collector/access/guard.py). Lookups read
the in-memory segment index only (refresh.py keeps it fresh): no query per call. Audit rows
are written in bulk: one per token, action, site and outcome every AUDIT_SECONDS, with the count.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
import duckdb
from starlette.types import Receive, Scope, Send

from collector.access.auth import Principal, audit, authorize
from collector.access.challenge import AuthError, raw_challenge
from collector.access.guard import INVALID_TOKEN, Access
from collector.devices.detect import detect
from collector.errors import ClientError
from collector.http.asgi import header_map, query_map, respond_json
from collector.http.bodies import BodyTimeouts, json_object, read_capped
from collector.http.tasks import stop
from collector.identifiers.visitor import consented_hasher, consented_id_visitor
from collector.segments.contextual import Detect, Rule, build_context, evaluate, load_rules
from collector.segments.definitions import definitions_dir
from collector.segments.index import SegmentIndex
from collector.segments.refresh import SegmentRefresher
from collector.settings import Settings

log = logging.getLogger("collector.segments")

SCOPE = "segments:read"
AUDIT_SECONDS = 10.0
BODY_TIMEOUT_SECONDS = 10.0
MAX_LOOKUP = 1000
MAX_BODY = 512 * 1024
ROUTES = {
    "/api/segments": ("GET", "get"),
    "/api/segments/lookup": ("POST", "lookup"),
    "/api/segments/context": ("POST", "context"),
}


class SegmentsAPI:
    """One ASGI app for the three segment routes (see ROUTES); register each path as a Direct route."""

    def __init__(
        self,
        settings: Settings,
        refresher: SegmentRefresher,
        access: Access,
        pepper: bytes,
        rules: list[Rule] | None = None,
        detector: Detect = detect,
    ) -> None:
        self.settings = settings
        self.refresher = refresher
        self.access = access
        self.pepper = pepper
        self.hash_visitor = consented_hasher(pepper)
        self.rules = load_rules(definitions_dir() / "contextual.toml") if rules is None else rules
        self.detector = detector
        self.sites = {s.domain: s.domain for s in settings.sites}
        self.body_timeouts = BodyTimeouts(BODY_TIMEOUT_SECONDS)
        self._audit: Counter[tuple[str, str, str | None, str]] = Counter()
        self._task: asyncio.Task[None] | None = None
        self._stamps: tuple[SegmentIndex | None, dict[str, str | None]] = (None, {})

    async def start(self) -> None:
        self._task = asyncio.create_task(self._flush_every(AUDIT_SECONDS))

    async def close(self) -> None:
        await stop(self._task)
        self._task = None
        await self.body_timeouts.close()
        await self.flush_audit()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, name = ROUTES[scope["path"]]
        if scope["method"] != method:
            error = {"error": f"method not allowed; use {method}", "field": None}
            await respond_json(send, 405, error, [(b"allow", method.encode())])
            return
        headers = header_map(scope)
        action = "segments.context" if name == "context" else "segments.read"
        try:
            principal = await self._authenticate(headers.get("authorization"), action)
            if name == "get":
                answer = self.get(principal, query_map(scope))
            else:
                body = await self._json_body(headers, receive)
                answer = self.lookup(principal, body) if name == "lookup" else self.context(principal, body)
        except ClientError as exc:
            await respond_json(send, exc.status, exc.as_json(), raw_challenge(exc.status))
            return
        except ConnectionError:
            return  # the client left before sending its body: nobody to answer
        await respond_json(send, 200, answer)

    # --- handlers ---------------------------------------------------------------------------

    def get(self, principal: Principal, q: Mapping[str, str]) -> dict[str, Any]:
        site = self._authorize(principal, q.get("site"), "segments.read")
        visitor, account = q.get("visitor"), q.get("account")
        if visitor is not None and account is not None:
            raise ClientError("give visitor or account, not both", "account")
        segments: tuple[str, ...] | list[str] = ()
        contextual: list[str] = []
        index = self.refresher.index
        if q.get("gpc") not in ("1", "true"):
            if visitor is not None:
                segments = index.segments_of(site, self._visitor(site, visitor, "visitor"))
            elif account is not None:
                segments = self._account_segments(index, site, account, q.get("kind"))
            ua, lang = q.get("ua"), q.get("lang")
            url, referrer, tz = q.get("url"), q.get("referrer"), q.get("tz")
            if ua or lang or url or referrer or tz:
                headers = {"user-agent": ua or "", "accept-language": lang or ""}
                contextual = self._contextual(headers, url, referrer, tz)
        self._count(principal.name, "segments.read", site, "allowed")
        return {"site": site, "segments": segments, "contextual": contextual, "computed_at": self._stamp(index, site)}

    def lookup(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        site = self._authorize(principal, body.get("site"), "segments.read")
        visitors = _strings(body.get("visitors", []), "visitors")
        accounts = _strings(body.get("accounts", []), "accounts")
        if len(visitors) + len(accounts) > MAX_LOOKUP:
            raise ClientError(f"at most {MAX_LOOKUP} visitors and accounts in one call", "visitors")
        index = self.refresher.index
        by_visitor = {v: index.segments_of(site, self._visitor(site, v, "visitors")) for v in visitors}
        kind = body.get("kind")
        kind = kind if isinstance(kind, str) else None
        by_account = {a: self._account_segments(index, site, a, kind) for a in accounts}
        self._count(principal.name, "segments.read", site, "allowed", len(visitors) + len(accounts))
        return {"site": site, "visitors": by_visitor, "accounts": by_account, "computed_at": self._stamp(index, site)}

    def context(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        site = self._authorize(principal, body.get("site"), "segments.context")
        headers = body.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ClientError("headers must be an object of strings (the visitor's request headers)", "headers")
        fields = {k: body.get(k) for k in ("url", "referrer", "timezone")}
        for key, value in fields.items():
            if value is not None and (not isinstance(value, str) or len(value) > 2048):
                raise ClientError(f"{key} must be a string of at most 2048 characters", key)
        forwarded = {str(k).lower(): v[:1024] for k, v in headers.items()}
        contextual = self._contextual(forwarded, fields["url"], fields["referrer"], fields["timezone"])
        self._count(principal.name, "segments.context", site, "allowed")
        return {"site": site, "contextual": contextual}

    # --- access control and audit -------------------------------------------------------------

    async def _authenticate(self, authorization: str | None, action: str) -> Principal:
        """The token's principal from the server's token index; 401 (audited when a token was sent) if none."""
        try:
            return await self.access.principal(authorization)
        except AuthError as exc:
            if authorization:
                self._count(INVALID_TOKEN, action, None, f"denied {exc.status}")
            else:
                self.access.outcomes[f"denied {exc.status}"] += 1
            raise ClientError(exc.message, "authorization", exc.status) from None

    def _authorize(self, principal: Principal, value: Any, action: str) -> str:
        """The site (400 when missing or unknown), if the token may read it (403 otherwise)."""
        site = self.sites.get(value) if isinstance(value, str) else None
        if site is None:
            site = self._site(value)
        try:
            authorize(principal, SCOPE, site)
        except AuthError as exc:
            self._count(principal.name, action, site, f"denied {exc.status}")
            raise ClientError(exc.message, "authorization", exc.status) from None
        return site

    def _count(self, token: str, action: str, site: str | None, outcome: str, lookups: int = 1) -> None:
        self._audit[(token, action, site, outcome)] += lookups
        self.access.outcomes[outcome] += 1

    async def flush_audit(self) -> None:
        """Write the counted calls to audit_log: one row per token, action, site and outcome."""
        counts, self._audit = self._audit, Counter()  # swapped on the event loop, where calls are counted
        if not counts:
            return

        def write(con: duckdb.DuckDBPyConnection) -> None:
            con.execute("BEGIN TRANSACTION")
            try:
                for (token, action, site, outcome), n in counts.items():
                    audit(con, token, action, site, f"{n} lookups", outcome)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

        try:
            await anyio.to_thread.run_sync(self.refresher.with_cursor, write)
        except duckdb.Error:
            self._audit.update(counts)  # not lost: written with the next flush
            log.exception("segment lookups not audited yet; retrying")

    async def _flush_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.flush_audit()

    # --- helpers ----------------------------------------------------------------------------

    def _site(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise ClientError("site is required", "site")
        site = self.settings.site(value)
        if site is None:
            raise ClientError(f"site {value!r} is not registered", "site")
        return site.domain

    def _visitor(self, site: str, raw: str, field: str) -> int:
        visitor = consented_id_visitor(self.hash_visitor, site, raw)
        if visitor is None:
            raise ClientError("a visitor id is the first-party id: 8 to 128 letters, digits, - or _", field)
        return visitor

    def _account_segments(self, index: SegmentIndex, site: str, account: str, kind: str | None) -> list[str]:
        hashed = self._account_hash(site, account, kind)
        found: set[str] = set()
        for visitor in index.visitors_of_account(site, hashed):
            found.update(index.segments_of(site, visitor))
        return sorted(found)

    def _account_hash(self, site: str, account: str, kind: str | None) -> str:
        # Account identifiers are normalized and keyed exactly as identify stored them (collector.identifiers.identity).
        try:
            identity = importlib.import_module("collector.identifiers.identity")
        except ImportError:
            message = "account lookups need identify (collector.identifiers.identity), which is not installed"
            raise ClientError(message, "account", 501) from None
        country = getattr(getattr(self.settings, "privacy", None), "default_country_code", None)
        try:
            kind, normalized = identity.normalize(account, kind, country)
        except ValueError as exc:
            raise ClientError(str(exc), "account") from None
        return str(identity.account_hash(self.pepper, site, kind, normalized))

    def _contextual(
        self, headers: Mapping[str, str], url: str | None, referrer: str | None, timezone: str | None
    ) -> list[str]:
        if not any(headers.values()) and not (url or referrer or timezone):
            return []
        return evaluate(self.rules, build_context(headers, url, referrer, timezone, detector=self.detector))

    def _stamp(self, index: SegmentIndex, site: str) -> str | None:
        """When the site's segments were computed, formatted once per index."""
        seen, stamps = self._stamps
        if seen is not index:
            stamps = {s: at.isoformat() + "Z" for s, at in index.computed_at.items()}
            self._stamps = (index, stamps)
        return stamps.get(site)

    async def _json_body(self, headers: Mapping[str, str], receive: Receive) -> dict[str, Any]:
        body = await read_capped(receive, headers.get("content-length"), MAX_BODY, self.body_timeouts)
        return json_object(body, not_json="body must be a JSON object")


def _strings(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ClientError(f"{field} must be a list of strings", field)
    return list(dict.fromkeys(value))
