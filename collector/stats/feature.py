"""Stats: named queries (GET /api/query/{name}, `collector query`) and the analyst's snapshot (`collector export`)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector.feature import Command, Core, Feature
from collector.settings import Settings
from collector.stats import commands
from collector.stats.api import openapi_paths, query_endpoint
from collector.stats.export import export_op
from collector.stats.queries import query_op


def routes(settings: Settings, live: Core) -> Sequence[BaseRoute]:
    async def query(request: Request) -> Response:
        assert live.runtime is not None and live.writer is not None
        return await query_endpoint(request, live.runtime.con, settings, live.writer.sync)

    return [Route("/api/query/{name}", query, methods=["GET"])]


FEATURE: Feature[Core] = Feature(
    "stats",
    ops={"query": query_op, "export": export_op},
    commands=(
        Command(
            "query", "run a named query (queries/*.sql); --list shows them", commands.query, commands.query_arguments
        ),
        Command(
            "export",
            "write an analyst's snapshot: Parquet files and analytics.duckdb",
            commands.export,
            commands.export_arguments,
        ),
    ),
    paths=openapi_paths,
    routes=routes,
)
