"""Who may call what over HTTP: bearer tokens checked in memory, every authenticated call written to audit_log.

A handler asks `principal = await require(request, "stats:read", site)`. Without a token, or with a bad
one, that raises AuthError(401); with a token that lacks the scope or the site, AuthError(403). The app
renders AuthError as JSON `{"error": ..., "field": null}`. Every call that presents a token is audited,
allowed or not; a call with no token at all is refused without a row (nothing to attribute it to).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import anyio.to_thread
import duckdb
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector.access.auth import Principal, TokenIndex, audit, authorize
from collector.access.challenge import AuthError, challenge
from collector.storage import store

log = logging.getLogger("collector.access")
INVALID_TOKEN = "(invalid token)"


class Access:
    """The token index and the audit trail of one running server."""

    def __init__(self, con: duckdb.DuckDBPyConnection, max_age: float = 30.0) -> None:
        self.con = con
        self.index = TokenIndex(max_age)
        self.outcomes: Counter[str] = Counter()
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    async def principal(self, authorization: str | None) -> Principal:
        now = time.monotonic()
        if self.index.stale(now):
            await anyio.to_thread.run_sync(self._reload, now)
        return self.index.authenticate(authorization)

    async def record(self, token_name: str, action: str, site: str | None, target: str | None, outcome: str) -> None:
        self.outcomes[outcome] += 1
        if outcome != "allowed":
            log.warning(
                "api call refused", extra={"token": token_name, "action": action, "site": site, "outcome": outcome}
            )
        try:
            await anyio.to_thread.run_sync(self._insert, token_name, action, site, target, outcome)
        except duckdb.Error as exc:
            # Fail closed: a call that cannot be audited is not answered.
            raise AuthError(503, f"the audit log cannot be written; retry later ({exc})") from None

    def close(self) -> None:
        with self._lock:
            if self._cursor is not None:
                self._cursor.close()
                self._cursor = None

    def _use(self) -> duckdb.DuckDBPyConnection:
        if self._cursor is None:
            self._cursor = store.cursor(self.con)
        return self._cursor

    def _reload(self, now: float) -> None:
        with self._lock:
            self.index.load(self._use(), now)

    def _insert(self, token_name: str, action: str, site: str | None, target: str | None, outcome: str) -> None:
        with self._lock:
            audit(self._use(), token_name, action, site, target, outcome)


def action_of(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    return f"{request.method} {path}"


async def require(
    request: Request,
    scope: str,
    site: str | None = None,
    *,
    target: str | None = None,
    action: str | None = None,
) -> Principal:
    """The caller's principal if its token has `scope` (and `site`); audits the call either way.

    `target` goes to the audit log as is, so pass a hash, never a raw identifier.
    """
    access: Access = request.app.state.access
    action = action or action_of(request)
    authorization = request.headers.get("authorization")
    try:
        principal = await access.principal(authorization)
    except AuthError as exc:
        if authorization:
            await access.record(INVALID_TOKEN, action, site, target, f"denied {exc.status}")
        else:
            access.outcomes[f"denied {exc.status}"] += 1
        raise
    try:
        authorize(principal, scope, site)
    except AuthError as exc:
        await access.record(principal.name, action, site, target, f"denied {exc.status}")
        raise
    await access.record(principal.name, action, site, target, "allowed")
    return principal


async def auth_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    headers = challenge(exc.status)
    if exc.status == 503:
        headers["Retry-After"] = "1"
    return JSONResponse(exc.as_json(), exc.status, headers=headers)
