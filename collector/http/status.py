"""Core status: GET /healthz, GET /metrics, and `collector status` (events stored per site, drops by reason)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any, Protocol

import duckdb
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from collector.access.guard import Access, require
from collector.durable.salvage import set_aside
from collector.durable.writer import WriteFailed, Writer
from collector.feature import Command, Common, Feature, Run
from collector.http import metrics
from collector.http.ingest import Ingest
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
        "sites": [
            {"site": s, "events": n, "last_event": last.replace(tzinfo=UTC).isoformat() if last else None}
            for s, n, last in rows
        ],
        "registered_sites": [s.domain for s in settings.sites],
        "drops": {reason: int(n) for reason, n in drops},
        "journal_set_aside": set_aside(settings.journal_path),
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
    for note in result.get("journal_set_aside", []):
        print(
            f"journal: segment {note['segment']} was damaged and is set aside at {note['path']}:"
            f" {note['records_lost']} record(s) lost, {note['records_kept']} kept (docs/security.md)"
        )
    return 0


def _status_arguments(parser: argparse.ArgumentParser, common: Common) -> None:
    common(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


class Refusals(Protocol):
    @property
    def refused(self) -> Mapping[str, int]: ...


class Reports(Protocol):
    """The CSP report endpoint (collector.privacy.api.PrivacyAPI): its limits count what they refuse."""

    @property
    def csp_limits(self) -> Refusals: ...


class Up(Protocol):
    """What status reads of the running server (collector.app.Live)."""

    @property
    def writer(self) -> Writer | None: ...
    @property
    def ingest(self) -> Ingest | None: ...
    @property
    def access(self) -> Access | None: ...
    @property
    def privacy(self) -> Reports | None: ...


def routes(settings: Settings, live: Up) -> Sequence[BaseRoute]:
    async def healthz(request: Request) -> Response:
        writer = live.writer
        if writer is None:
            return JSONResponse({"status": "starting"}, 503)
        try:
            await asyncio.wait_for(writer.ping(), timeout=5)
        except (WriteFailed, TimeoutError) as exc:
            return JSONResponse({"status": "store not writable", "error": str(exc)}, 503)
        # The journal process (where the pipeline runs) reports whether it holds the brand rules; each
        # brand's model rules load from the rules cache the first time one of its agents shows up.
        ingest = live.ingest
        rules = "complete" if ingest is not None and ingest.tally.rules_complete else "building"
        return JSONResponse({"status": "ok", "queue": writer.queue_depth, "device_rules": rules})

    async def metrics_text(request: Request) -> Response:
        await require(request, "admin")
        text = metrics.render(live.ingest, live.writer, live.access)
        if live.privacy is not None:
            text += _csp_refusals(live.privacy.csp_limits.refused)
        return Response(text, media_type=metrics.CONTENT_TYPE)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics_text, methods=["GET"])]


def _csp_refusals(refused: Mapping[str, int]) -> str:
    out = metrics.Exposition()
    out.family(
        "collector_csp_reports_refused_total",
        "counter",
        "CSP report requests refused, by reason (client or site over its limit, size, invalid).",
        [({"reason": reason}, refused.get(reason, 0)) for reason in ("client", "site", "size", "invalid")],
    )
    return out.text()


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
            "description": "Whether the pipeline holds the device-brand rules (model rules load on first sight)",
        },
        "error": {"type": "string"},
    },
}

FEATURE: Feature[Up] = Feature(
    "status",
    ops={"status": status},
    commands=(Command("status", "events stored per site, drops by reason", _status_command, _status_arguments),),
    paths=paths,
    schemas={"Health": HEALTH},
    routes=routes,
)
