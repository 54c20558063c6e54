"""Run the app under uvicorn: fail fast and clearly on a bad set-up, drain on SIGTERM."""

from __future__ import annotations

import logging
import sys

import uvicorn
from starlette.applications import Starlette

from collector.http.app import create_app
from collector.http.runtime import open_runtime
from collector.identifiers.keys import KeyFileError
from collector.logs import configure_logging
from collector.settings import ConfigError, Settings
from collector.storage.store import StoreError

log = logging.getLogger("collector.server")


def serve(settings: Settings) -> int:
    configure_logging(settings.log_level)
    try:
        runtime = open_runtime(settings)
    except (ConfigError, KeyFileError, StoreError) as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 2
    return run_app(settings, create_app(runtime=runtime))


def run_app(settings: Settings, app: Starlette) -> int:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        server_header=False,
        proxy_headers=False,  # clientip.py trusts forwarding headers only from configured proxies
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    log.info("listening", extra={"url": f"http://{settings.host}:{settings.port}/", "data_dir": str(settings.data_dir)})
    server.run()
    return 0 if server.started else 1
