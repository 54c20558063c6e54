"""An access log without IP addresses, in place of uvicorn's: method, scrubbed path, status and duration.

Written at debug level to the `collector.access` logger, so it is off unless log_level = "debug". The
query string is never logged, and the path goes through the same scrubbing as stored paths.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.ingest.pipeline.scrub import scrub_path

log = logging.getLogger("collector.access")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.DEBUG):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            log.debug(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scrub_path(scope["path"][:512], []),
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
