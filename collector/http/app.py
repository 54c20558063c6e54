"""create_app: the Starlette application, its routes and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.access.auth import AuthError
from collector.access.guard import Access, auth_error_response, require
from collector.admin.channel import AdminServer
from collector.dashboard.views import Dashboard
from collector.devices.detect import Detector
from collector.devices.detect import warm as warm_devices
from collector.durable.journal import Sealer
from collector.durable.writer import WriteFailed, Writer
from collector.durable.zygote import zygote
from collector.heap import freeze_long_lived
from collector.http import metrics, openapi
from collector.http.accesslog import AccessLog
from collector.http.asgi import App, Direct, respond_json
from collector.http.headers import SecurityHeadersMiddleware
from collector.http.ingest import Backend, Ingest, InProcess
from collector.http.pages import demo_page, snippet_response
from collector.http.runtime import Runtime, open_journal, open_runtime
from collector.http.snippet import load_snippet
from collector.ingest.accept import Acceptor
from collector.ingest.handler import IngestConfig
from collector.ingest.pipeline.scrub import ScrubCounts
from collector.ingest.pipeline.steps import Detect, build_pipeline
from collector.ingest.ratelimit import RateLimits
from collector.privacy.api import PrivacyAPI
from collector.privacy.retention import purge_daily
from collector.privacy.rights import scrubbed_hook
from collector.segments.api import ROUTES as SEGMENT_ROUTES
from collector.segments.api import SegmentsAPI
from collector.segments.profiles import update_profiles
from collector.segments.refresh import SegmentRefresher
from collector.settings import Settings, load_settings
from collector.stats.api import query_endpoint
from collector.stats.rollups import refresh_daily_counts
from collector.storage import store
from collector.tasks import stop

log = logging.getLogger("collector.app")
MAINTENANCE_SECONDS = 60.0


class Live:
    """What the lifespan opened; None before start-up and after shutdown."""

    runtime: Runtime | None = None
    writer: Writer | None = None
    ingest: Ingest | None = None
    access: Access | None = None
    devices: Detector | None = None
    segments: SegmentRefresher | None = None
    segments_api: SegmentsAPI | None = None
    privacy: PrivacyAPI | None = None


# Something that runs beside the server while it is up (the scale-out loader): entered after start-up.
Service = Callable[[Live], contextlib.AbstractAsyncContextManager[None]]


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    detector: Detect | None = None,
    services: Sequence[Service] = (),
) -> App:
    """The collector as an ASGI app. With no runtime, the lifespan opens the data directory itself."""
    settings = settings or (runtime.settings if runtime else load_settings())
    snippet = load_snippet()
    live = Live()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        zygote.start()  # journal processes are forked from it once it has loaded the device rules
        rt = runtime or open_runtime(settings)
        devices = Detector()
        scrubbed = ScrubCounts()
        journal, sealer = open_journal(settings), Sealer(rt.database_key)
        # The pipeline runs in the journal process (ingestd.py), unless the caller brings a detector of its own.
        remote = IngestConfig(settings, rt.keys.pepper, rt.salts) if detector is None else None
        hooks = [update_profiles, scrubbed_hook(scrubbed)]
        writer = Writer(rt.con, journal, sealer, settings.writer_batch_events, hooks, ingest=remote, scrubbed=scrubbed)
        backend: Backend = writer
        if detector is not None:
            pipeline = build_pipeline(settings, rt.keys.pepper, rt.salts, detector, scrubbed)
            backend = InProcess(Acceptor(settings, pipeline, RateLimits(settings), writer.count_drop), writer)
        ingest = Ingest(settings, backend)
        access = Access(rt.con)
        segments = SegmentRefresher(settings, rt.con, sync=writer.sync)
        segments_api = SegmentsAPI(settings, segments, access, rt.keys.pepper, detector=detector or devices.detect)
        # Loading the device rules takes seconds (the segments API detects devices too): pay it before serving,
        # while the zygote loads its own. Every brand's model rules are built only where the pipeline runs.
        await anyio.to_thread.run_sync(warm_devices, detector is not None)
        writer.start()
        admin = AdminServer(settings, rt.con, writer.sync, writer.seal_off)
        await admin.start()
        await segments.start()
        await segments_api.start()
        live.segments, live.segments_api = segments, segments_api
        maintenance = asyncio.create_task(_maintain(rt, writer))
        purging = asyncio.create_task(purge_daily(rt.con, settings))
        live.runtime, live.writer, live.ingest, live.devices = rt, writer, ingest, devices
        live.privacy = PrivacyAPI(settings, rt.con, rt.keys.pepper, writer.sync, segments.forget, writer.seal_off)
        live.access = access
        app.state.live = live
        app.state.access = access
        freeze_long_lived()
        log.info("collector ready", extra={"sites": [s.domain for s in settings.sites]})
        try:
            async with contextlib.AsyncExitStack() as stack:
                for service in services:
                    await stack.enter_async_context(service(live))
                yield
        finally:
            for task in (maintenance, purging):
                await stop(task)
            await ingest.close()
            await segments_api.close()
            await segments.close()
            await admin.close()
            writer.close()
            _run_maintenance(rt)
            access.close()
            rt.close()
            log.info("collector stopped", extra={"events": writer.stats.events})

    def when_up(get: Callable[[], ASGIApp | None]) -> ASGIApp:
        """A direct route to something the lifespan opens: 503 before start-up and after shutdown."""

        async def route(scope: Scope, receive: Receive, send: Send) -> None:
            app = get()
            if app is None:
                await respond_json(send, 503, {"error": "the collector is starting or stopping", "field": None})
                return
            await app(scope, receive, send)

        return route

    event = when_up(lambda: live.ingest)
    segments = when_up(lambda: live.segments_api)

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

    async def query(request: Request) -> Response:
        assert live.runtime is not None and live.writer is not None
        return await query_endpoint(request, live.runtime.con, settings, live.writer.sync)

    async def index(request: Request) -> Response:
        return demo_page(request, settings.sites[0].domain)

    async def script(request: Request) -> Response:
        return snippet_response(request, snippet)

    async def metrics_text(request: Request) -> Response:
        await require(request, "admin")
        return Response(metrics.render(live.ingest, live.writer, live.access), media_type=metrics.CONTENT_TYPE)

    api_document = openapi.document(settings)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(api_document)

    def privacy(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            assert live.privacy is not None
            handler: Callable[[Request], Awaitable[Response]] = getattr(live.privacy, name)
            return await handler(request)

        return handle

    dashboard = Dashboard(settings, lambda: live.runtime.con if live.runtime else None)
    routes = [
        Route("/", index, methods=["GET"]),
        Route("/js/collector.js", script, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/api/query/{name}", query, methods=["GET"]),
        *dashboard.routes(),
        Route("/metrics", metrics_text, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/api/identify", privacy("identify"), methods=["POST"]),
        Route("/api/privacy/erase", privacy("erase"), methods=["POST"]),
        Route("/api/privacy/export", privacy("export"), methods=["POST"]),
        Route("/api/privacy/erase", privacy("preflight"), methods=["OPTIONS"]),
        Route("/api/privacy/export", privacy("preflight"), methods=["OPTIONS"]),
        Route("/api/csp-report", privacy("csp_report"), methods=["POST"]),
        Route("/api/csp-report", privacy("preflight"), methods=["OPTIONS"]),
    ]
    return App(
        direct=[
            Direct("/api/event", frozenset({"POST", "OPTIONS"}), event),
            *(Direct(path, frozenset({method}), segments) for path, (method, _) in SEGMENT_ROUTES.items()),
        ],
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(AccessLog), Middleware(SecurityHeadersMiddleware)],
        exception_handlers={AuthError: auth_error_response},
    )


async def _maintain(rt: Runtime, writer: Writer) -> None:
    while True:
        await asyncio.sleep(MAINTENANCE_SECONDS)
        await anyio.to_thread.run_sync(_run_maintenance, rt)
        writer.link.send_salts()  # at once: an expired salt must not wait in the journal process for a request


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
