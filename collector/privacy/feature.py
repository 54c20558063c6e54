"""Privacy: the data-subject rights (POST /api/identify, /api/privacy/erase and /export, their operations and
commands), CSP reports, the privacy request log and the daily retention purge."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from collector.feature import Core, Feature, described
from collector.http.tasks import stop
from collector.privacy import ops
from collector.privacy.api import OPENAPI_PATHS, PrivacyAPI
from collector.privacy.commands import COMMANDS
from collector.privacy.retention import purge_daily
from collector.settings import Settings


class Forgets(Protocol):
    """The segments' lookups (collector.segments.refresh.SegmentRefresher), which drop an erased visitor."""

    def forget(self, site: str, visitor: int) -> None: ...


class Up(Core, Protocol):
    """What the privacy engine reads of the running server, and where it keeps its API."""

    privacy: PrivacyAPI | None

    @property
    def segments(self) -> Forgets | None: ...


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, live: Up) -> AsyncIterator[None]:
    rt, writer = live.runtime, live.writer
    assert rt is not None and writer is not None
    forget = live.segments.forget if live.segments is not None else (lambda site, visitor: None)
    live.privacy = PrivacyAPI(settings, rt.con, rt.keys.pepper, writer.sync, forget, writer.seal_off)
    purging = asyncio.create_task(purge_daily(rt.con, settings))
    try:
        yield
    finally:
        await stop(purging)


def routes(settings: Settings, live: Up) -> Sequence[BaseRoute]:
    def handler(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            assert live.privacy is not None
            answer: Callable[[Request], Awaitable[Response]] = getattr(live.privacy, name)
            return await answer(request)

        return handle

    return [
        Route("/api/identify", handler("identify"), methods=["POST"]),
        Route("/api/privacy/erase", handler("erase"), methods=["POST"]),
        Route("/api/privacy/export", handler("export"), methods=["POST"]),
        Route("/api/privacy/erase", handler("preflight"), methods=["OPTIONS"]),
        Route("/api/privacy/export", handler("preflight"), methods=["OPTIONS"]),
        Route("/api/csp-report", handler("csp_report"), methods=["POST"]),
        Route("/api/csp-report", handler("preflight"), methods=["OPTIONS"]),
    ]


FEATURE: Feature[Up] = Feature(
    "privacy",
    ops={
        "erase": ops.erase_op,
        "export-visitor": ops.export_op,
        "requests": ops.requests_op,
        "request-add": ops.request_add_op,
        "request-done": ops.request_done_op,
        "purge": ops.purge_op,
        "salts-renew": ops.salts_renew_op,
    },
    commands=COMMANDS,
    paths=described(OPENAPI_PATHS),
    routes=routes,
    lifespan=lifespan,
)
