"""GET /api/query/NAME: a named query over HTTP for a token with the stats:read scope, JSON out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import duckdb
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from collector.access.auth import audit, authenticate, authorize
from collector.access.challenge import AuthError, challenge
from collector.errors import ClientError
from collector.settings import Settings
from collector.stats import filters
from collector.stats.queries import Result, installed_queries, run
from collector.storage import store

log = logging.getLogger("collector.queryapi")


async def query_endpoint(
    request: Request, con: duckdb.DuckDBPyConnection, settings: Settings, sync: Callable[[], object]
) -> Response:
    name = request.path_params["name"]
    params = {k: v for k, v in request.query_params.items() if k != "filter"}
    expressions = request.query_params.getlist("filter")
    header = request.headers.get("authorization")
    return await anyio.to_thread.run_sync(_answer, con, settings, name, params, expressions, header, sync)


def _answer(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    name: str,
    params: dict[str, str],
    expressions: list[str],
    header: str | None,
    sync: Callable[[], object],
) -> Response:
    sync()  # the answer covers every event acknowledged before the request
    cursor = store.cursor(con)
    try:
        try:
            principal = authenticate(cursor, header)
        except AuthError as exc:
            return JSONResponse({"error": exc.message, "field": "authorization"}, exc.status, challenge(exc.status))
        site = params.get("site") or (settings.sites[0].domain if len(settings.sites) == 1 else None)
        try:
            authorize(principal, "stats:read", site)
        except AuthError as exc:
            audit(cursor, principal.name, f"query:{name}", site, name, "denied")
            return JSONResponse({"error": exc.message, "field": "site" if site else "authorization"}, exc.status)
        try:
            result: Result = run(cursor, settings, name, params, expressions)
        except ClientError as exc:
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


def openapi_paths(settings: Settings) -> dict[str, Any]:
    names = sorted(installed_queries())
    return {"/api/query/{name}": _described(names, [s.domain for s in settings.sites])}


def _described(names: list[str], sites: list[str]) -> dict[str, Any]:
    return {
        "get": {
            "summary": "Run a named query (queries/NAME.sql) for one site",
            "description": "Which parameters a query takes depends on the query (`collector query --list`); "
            "one it does not take, or from after to, is a 400. "
            "Breakdowns fold groups smaller than the site's k-anonymity threshold.",
            "operationId": "query",
            "tags": ["queries"],
            "security": [{"bearer": ["stats:read"]}],
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "enum": names}},
                {
                    "name": "site",
                    "in": "query",
                    "required": len(sites) > 1,
                    "schema": {"type": "string", "enum": sites},
                    "description": "Registered site (optional when only one is registered)",
                },
                {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
                {
                    "name": "filter",
                    "in": "query",
                    "style": "form",
                    "explode": True,
                    "description": "Filter expressions, repeatable, combined with AND: FIELD==VALUE (is), "
                    "FIELD!=VALUE (is not) or FIELD~VALUE (contains); FIELD is one of "
                    + ", ".join(filters.FIELDS)
                    + " or prop:KEY. A malformed filter, or one the query cannot take, is a 400 naming `filter`.",
                    "schema": {"type": "array", "items": {"type": "string", "minLength": 4}},
                },
                *(_filter(name, field.what) for name, field in filters.FIELDS.items()),
            ],
            "responses": {
                "200": {
                    "description": "The rows, with column names and types",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["query", "params", "columns", "types", "rows"],
                                "properties": {
                                    "query": {"type": "string"},
                                    "params": {"type": "object"},
                                    "columns": {"type": "array", "items": {"type": "string"}},
                                    "types": {"type": "array", "items": {"type": "string"}},
                                    "rows": {"type": "array", "items": {"type": "array"}},
                                },
                            }
                        }
                    },
                },
                "400": {"$ref": "#/components/responses/BadRequest"},
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "403": {"$ref": "#/components/responses/Forbidden"},
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        }
    }


def _filter(name: str, what: str) -> dict[str, Any]:
    schema = {"type": "string", "minLength": 1, "maxLength": filters.MAX_VALUE}
    return {
        "name": name,
        "in": "query",
        "description": f"Keep only this {what} (the same as filter={name}==VALUE)",
        "schema": schema,
    }
