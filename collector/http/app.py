"""The collector's HTTP core, and build_app, which plugs features (collector.feature) into it.

The core is what every deployment serves: ingest (POST /api/event) through the journal process and the
writer, the snippet and its demo page, /openapi.json, the admin socket and the periodic maintenance.
Everything else comes from the features collector.app lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.access.challenge import AuthError
from collector.access.guard import Access, auth_error_response
from collector.admin.channel import AdminServer
from collector.devices.detect import Detector
from collector.durable.journal import Sealer
from collector.durable.writer import Writer
from collector.feature import Feature, op_table
from collector.heap import freeze_long_lived
from collector.http import openapi
from collector.http.accesslog import AccessLog
from collector.http.asgi import App, Direct, respond_json
from collector.http.doors import door_routes
from collector.http.headers import SecurityHeadersMiddleware
from collector.http.ingest import Ingest
from collector.http.pages import demo_page, snippet_response
from collector.http.runtime import Runtime, open_journal, open_runtime
from collector.http.snippet import load_snippet
from collector.http.tasks import stop
from collector.ingest.handler import IngestConfig
from collector.ingest.pipeline.scrub import ScrubCounts
from collector.ingest.scrubbed import scrubbed_hook
from collector.ingest.zygote import zygote
from collector.settings import Settings
from collector.stats.rollups import refresh_daily_counts
from collector.storage import store

log = logging.getLogger("collector.app")
MAINTENANCE_SECONDS = 60.0


class Live:
    """What the core's lifespan opened; None before start-up and after shutdown. Features keep their own
    state in a subclass (collector.app.Live)."""

    runtime: Runtime | None = None
    writer: Writer | None = None
    ingest: Ingest | None = None
    access: Access | None = None
    devices: Detector | None = None
    admin: AdminServer | None = None  # the CLI's socket: features settle their in-memory state after its ops


L = TypeVar("L", bound=Live)


def build_app(settings: Settings, features: Sequence[Feature[L]], live: L, *, runtime: Runtime | None = None) -> App:
    """The core and `features` as one ASGI app sharing `live`. With no runtime, the lifespan opens the data
    directory itself."""
    ops = op_table(features)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        zygote.start()  # journal processes are forked from it once it has loaded the device rules
        rt = runtime or open_runtime(settings)
        devices = Detector()
        scrubbed = ScrubCounts()
        journal, sealer = open_journal(settings), Sealer(rt.database_key)
        remote = IngestConfig(settings, rt.keys.pepper, rt.salts)  # the pipeline runs in the journal process
        hooks = [*(hook for feature in features for hook in feature.hooks), scrubbed_hook(scrubbed)]
        writer = Writer(rt.con, journal, sealer, remote, settings.writer_batch_events, hooks, scrubbed=scrubbed)
        access = Access(rt.con)
        ingest = Ingest(settings, writer, access)
        # The device rules live where the pipeline runs (the journal process); the server loads its own copy
        # only if the segments API is asked to detect a device.
        writer.start()
        admin = AdminServer(settings, rt.con, ops, writer.sync, writer.seal_off)
        await admin.start()
        maintenance = asyncio.create_task(_maintain(rt, writer))
        live.runtime, live.writer, live.ingest, live.access, live.devices = rt, writer, ingest, access, devices
        live.admin = admin
        app.state.live = live
        app.state.access = access
        try:
            async with contextlib.AsyncExitStack() as stack:
                for feature in features:
                    if feature.lifespan is not None:
                        await stack.enter_async_context(feature.lifespan(settings, live))
                freeze_long_lived()
                log.info("collector ready", extra={"sites": [s.domain for s in settings.sites]})
                yield
        finally:
            await stop(maintenance)
            await ingest.close()
            await admin.close()
            writer.close()
            _run_maintenance(rt)
            access.close()
            rt.close()
            log.info("collector stopped", extra={"events": writer.stats.events})

    routes: list[BaseRoute] = [*_pages(settings), *_described(openapi.document(settings, features))]
    direct = [
        Direct("/api/event", frozenset({"POST", "OPTIONS"}), when_up(lambda: live.ingest)),
        *door_routes(lambda: live.ingest),
    ]
    for feature in features:
        routes += feature.routes(settings, live) if feature.routes else ()
        direct += (Direct(*route) for route in (feature.direct(settings, live) if feature.direct else ()))
    return App(
        direct=direct,
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(AccessLog), Middleware(SecurityHeadersMiddleware)],
        exception_handlers={AuthError: auth_error_response},
    )


def when_up(get: Callable[[], ASGIApp | None]) -> ASGIApp:
    """A direct route to something the lifespan opens: 503 before start-up and after shutdown."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        app = get()
        if app is None:
            await respond_json(send, 503, {"error": "the collector is starting or stopping", "field": None})
            return
        await app(scope, receive, send)

    return route


def _pages(settings: Settings) -> list[BaseRoute]:
    """The demo page and the snippet."""
    snippet = load_snippet()

    async def index(request: Request) -> Response:
        return demo_page(request, settings.sites[0].domain)

    async def script(request: Request) -> Response:
        return snippet_response(request, snippet)

    return [Route("/", index, methods=["GET"]), Route("/js/collector.js", script, methods=["GET"])]


def _described(document: dict[str, object]) -> list[BaseRoute]:
    """GET /openapi.json, the API the app serves."""

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(document)

    return [Route("/openapi.json", openapi_json, methods=["GET"])]


async def _maintain(rt: Runtime, writer: Writer) -> None:
    while True:
        await asyncio.sleep(MAINTENANCE_SECONDS)
        await anyio.to_thread.run_sync(_run_maintenance, rt)
        writer.link.send_changes()  # at once: an expired salt must not wait in the journal process for a request


def _run_maintenance(rt: Runtime) -> None:
    """Rotate salts and refresh anonymous aggregates; a failure is logged and retried on the next tick."""
    cursor = store.cursor(rt.con)
    try:
        rt.salts.rotate(cursor)
        refresh_daily_counts(cursor)
    except Exception:
        log.exception("maintenance failed")
    finally:
        cursor.close()
