"""Core status: GET /healthz, GET /metrics, and `collector status` (events stored per site, drops by reason)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from typing import Any

import duckdb
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from collector.access.guard import require
from collector.durable.writer import WriteFailed
from collector.feature import Command, Common, Feature, Run
from collector.http import metrics
from collector.http.app import Live
from collector.http.openapi import json_response
from collector.settings import Settings


def status(con: duckdb.DuckDBPyConnection, settings: Settings, args: dict[str, Any]) -> dict[str, Any]:
    rows = con.execute(
        "SELECT site, count(*) AS events, max(ts) AS last_event FROM events GROUP BY site ORDER BY site"
    ).fetchall()
    drops = con.execute("SELECT reason, sum(events) FROM drops GROUP BY reason ORDER BY reason").fetchall()
    version = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return {
        "database": str(settings.database_path),
        "schema_version": version[0] if version else None,
        "sites": [{"site": s, "events": n, "last_event": last.isoformat() if last else None} for s, n, last in rows],
        "registered_sites": [s.domain for s in settings.sites],
        "drops": {reason: int(n) for reason, n in drops},
    }


def _status_command(settings: Settings, ns: argparse.Namespace, run: Run) -> int:
    result = run(settings, "status", {})
    if ns.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return 0
    print(f"database: {result['database']} (schema {result['schema_version']})")
    print(f"registered sites: {', '.join(result['registered_sites'])}")
    for row in result["sites"]:
        print(f"  {row['site']}: {row['events']} events, last at {row['last_event']}")
    if not result["sites"]:
        print("  no events stored yet")
    if result["drops"]:
        print("dropped: " + ", ".join(f"{k} {v}" for k, v in result["drops"].items()))
    return 0


def _status_arguments(parser: argparse.ArgumentParser, common: Common) -> None:
    common(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def routes(settings: Settings, live: Live) -> Sequence[BaseRoute]:
    async def healthz(request: Request) -> Response:
        writer = live.writer
        if writer is None:
            return JSONResponse({"status": "starting"}, 503)
        try:
            await asyncio.wait_for(writer.ping(), timeout=5)
        except (WriteFailed, TimeoutError) as exc:
            return JSONResponse({"status": "store not writable", "error": str(exc)}, 503)
        ingest = live.ingest  # model rules are built in the background where the pipeline runs
        rules = "complete" if ingest is not None and ingest.tally.rules_complete else "building"
        return JSONResponse({"status": "ok", "queue": writer.queue_depth, "device_rules": rules})

    async def metrics_text(request: Request) -> Response:
        await require(request, "admin")
        return Response(metrics.render(live.ingest, live.writer, live.access), media_type=metrics.CONTENT_TYPE)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics_text, methods=["GET"])]


def paths(settings: Settings) -> dict[str, Any]:
    healthz = {
        "get": {
            "summary": "Whether the store accepts writes",
            "operationId": "health",
            "tags": ["operations"],
            "security": [],
            "responses": {
                "200": json_response("Ready", "#/components/schemas/Health"),
                "503": json_response("Starting, or the store is not writable", "#/components/schemas/Health"),
            },
        }
    }
    return {"/healthz": healthz, **metrics.OPENAPI_PATHS}


HEALTH = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string"},
        "queue": {"type": "integer"},
        "device_rules": {
            "type": "string",
            "enum": ["building", "complete"],
            "description": "Device-model rules are built in the background after start-up",
        },
        "error": {"type": "string"},
    },
}

FEATURE: Feature[Live] = Feature(
    "status",
    ops={"status": status},
    commands=(Command("status", "events stored per site, drops by reason", _status_command, _status_arguments),),
    paths=paths,
    schemas={"Health": HEALTH},
    routes=routes,
)
