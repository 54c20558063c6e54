"""Run an ASGI app under uvicorn: drain on SIGTERM. Free of any database, for the scale-out ingest node too."""

from __future__ import annotations

import logging

import uvicorn
from starlette.applications import Starlette

from collector.settings import Settings

log = logging.getLogger("collector.server")


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
