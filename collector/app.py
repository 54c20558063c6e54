"""The collector: the HTTP core (collector.http.app) with every feature plugged in, from one list.

FEATURES is that list; the app, its /openapi.json, the admin socket's operations and the `collector`
command are all built from it. A deployment adds features of its own through `extra` (the scale-out
loader: collector.scaleout.loader).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Sequence

from collector.access.feature import FEATURE as ACCESS
from collector.admin.ops import Op
from collector.dashboard.feature import FEATURE as DASHBOARD
from collector.feature import Feature, op_table
from collector.http import app as core
from collector.http.asgi import App
from collector.http.runner import run_app
from collector.http.runtime import Runtime, open_runtime
from collector.http.status import FEATURE as STATUS
from collector.identifiers.keys import KeyFileError
from collector.logs import configure_logging
from collector.privacy.api import PrivacyAPI
from collector.privacy.feature import FEATURE as PRIVACY
from collector.segments.api import SegmentsAPI
from collector.segments.feature import FEATURE as SEGMENTS
from collector.segments.refresh import SegmentRefresher
from collector.settings import ConfigError, Settings, load_settings
from collector.stats.feature import FEATURE as STATS
from collector.storage.store import StoreError


class Live(core.Live):
    """What the lifespan opened, the core's and the features'; None before start-up and after shutdown."""

    segments: SegmentRefresher | None = None
    segments_api: SegmentsAPI | None = None
    privacy: PrivacyAPI | None = None


# In this order: lifespans start in it (privacy uses the segments') and stop in reverse; commands are listed in it.
FEATURES: tuple[Feature[Live], ...] = (STATUS, STATS, ACCESS, SEGMENTS, PRIVACY, DASHBOARD)
OPS: dict[str, Op] = op_table(FEATURES)


def create_app(
    settings: Settings | None = None, *, runtime: Runtime | None = None, extra: Sequence[Feature[Live]] = ()
) -> App:
    """The collector as an ASGI app. With no runtime, the lifespan opens the data directory itself."""
    settings = settings or (runtime.settings if runtime else load_settings())
    return core.build_app(settings, (*FEATURES, *extra), Live(), runtime=runtime)


def serve(settings: Settings, extra: Sequence[Feature[Live]] = (), sock: socket.socket | None = None) -> int:
    """Run the collector under uvicorn (on `sock` if given); 2 when the data directory or its keys cannot be opened."""
    configure_logging(settings.log_level)
    try:
        runtime = open_runtime(settings)
    except (ConfigError, KeyFileError, StoreError) as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 2
    return run_app(settings, create_app(runtime=runtime, extra=extra), sock)
