"""Segments: definitions refreshed in the background, GET/POST /api/segments*, profiles kept by each load,
and `collector segments`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from collector.access.guard import Access
from collector.admin.channel import AdminServer
from collector.devices.detect import Detector
from collector.durable.writer import Writer
from collector.feature import Command, DirectRoute, Feature
from collector.http.app import when_up
from collector.http.runtime import Runtime
from collector.segments import commands
from collector.segments.api import ROUTES, SegmentsAPI
from collector.segments.definitions import list_op, refresh_op
from collector.segments.openapi import openapi_paths
from collector.segments.profiles import update_profiles
from collector.segments.refresh import SegmentRefresher
from collector.settings import Settings


class Up(Protocol):
    """What the segments read of the running server, and where they keep their own parts."""

    segments: SegmentRefresher | None
    segments_api: SegmentsAPI | None

    @property
    def runtime(self) -> Runtime | None: ...
    @property
    def writer(self) -> Writer | None: ...
    @property
    def access(self) -> Access | None: ...
    @property
    def devices(self) -> Detector | None: ...
    @property
    def admin(self) -> AdminServer | None: ...


@contextlib.asynccontextmanager
async def lifespan(settings: Settings, live: Up) -> AsyncIterator[None]:
    assert live.runtime is not None and live.writer is not None and live.access is not None
    assert live.devices is not None
    refresher = SegmentRefresher(settings, live.runtime.con, sync=live.writer.sync)
    api = SegmentsAPI(settings, refresher, live.access, live.runtime.keys.pepper, detector=live.devices.detect)
    await refresher.start()
    await api.start()
    live.segments, live.segments_api = refresher, api
    if live.admin is not None:
        live.admin.settle.append(refresher.settle)
    try:
        yield
    finally:
        if live.admin is not None:
            live.admin.settle.remove(refresher.settle)
        await api.close()
        await refresher.close()


def direct(settings: Settings, live: Up) -> Sequence[DirectRoute]:
    app = when_up(lambda: live.segments_api)
    return [(path, frozenset({method}), app) for path, (method, _) in ROUTES.items()]


FEATURE: Feature[Up] = Feature(
    "segments",
    ops={"segments.refresh": refresh_op, "segments.list": list_op},
    commands=(Command("segments", "refresh segments or list their sizes", commands.segments, commands.arguments),),
    paths=openapi_paths,
    direct=direct,
    hooks=(update_profiles,),
    lifespan=lifespan,
)
