"""GET /api/query/NAME: a named query over HTTP for a token with the stats:read scope, JSON out."""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio.to_thread
import duckdb
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector import store
from collector.auth import AuthError, audit, authenticate, authorize
from collector.queries import QueryError, Result, run
from collector.settings import Settings

log = logging.getLogger("collector.queryapi")


async def query_endpoint(
    request: Request, con: duckdb.DuckDBPyConnection, settings: Settings, sync: Callable[[], object]
) -> Response:
    name = request.path_params["name"]
    params = dict(request.query_params)
    header = request.headers.get("authorization")
    return await anyio.to_thread.run_sync(_answer, con, settings, name, params, header, sync)


def _answer(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    name: str,
    params: dict[str, str],
    header: str | None,
    sync: Callable[[], object],
) -> Response:
    sync()  # the answer covers every event acknowledged before the request
    cursor = store.cursor(con)
    try:
        try:
            principal = authenticate(cursor, header)
        except AuthError as exc:
            return JSONResponse({"error": exc.message, "field": "authorization"}, exc.status)
        site = params.get("site") or (settings.sites[0].domain if len(settings.sites) == 1 else None)
        try:
            authorize(principal, "stats:read", site)
        except AuthError as exc:
            audit(cursor, principal.name, f"query:{name}", site, name, "denied")
            return JSONResponse({"error": exc.message, "field": "site" if site else "authorization"}, exc.status)
        try:
            result: Result = run(cursor, settings, name, params)
        except QueryError as exc:
            audit(cursor, principal.name, f"query:{name}", site, name, f"refused: {exc.field}")
            return JSONResponse(exc.as_json(), exc.status)
        except duckdb.Error:
            log.exception("query %s failed", name)
            audit(cursor, principal.name, f"query:{name}", site, name, "failed")
            return JSONResponse({"error": "the query failed; see the server log", "field": None}, 500)
        audit(cursor, principal.name, f"query:{name}", site, name, f"ok: {len(result.rows)} rows")
        return JSONResponse(result.as_json())
    finally:
        cursor.close()
