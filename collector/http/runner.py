"""Run an ASGI app under uvicorn: drain on SIGTERM. Free of any database, for the scale-out ingest node too."""

from __future__ import annotations

import errno
import logging
import socket

import uvicorn
from starlette.applications import Starlette

from collector.settings import ConfigError, Settings

log = logging.getLogger("collector.server")


def listen(settings: Settings) -> socket.socket:
    """The server's listening socket, bound before anything else starts: a busy port costs a second, not a
    database and a key file. The one-line error says what to do."""
    where = f"[{settings.host}]:{settings.port}" if ":" in settings.host else f"{settings.host}:{settings.port}"
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restarts reuse TIME_WAIT ports
        sock.bind((settings.host, settings.port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"cannot listen on {where}: the port is in use (another collector?); pick another with --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise ConfigError(f"cannot listen on {where}: permission denied (ports below 1024 need root)") from None
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot listen on {where}: {reason} (check --host)") from None
    return sock


def run_app(settings: Settings, app: Starlette, sock: socket.socket | None = None) -> int:
    """Serve `app` until SIGTERM, on `sock` when one is given (see listen), else on the settings' host and port."""
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
    port = sock.getsockname()[1] if sock is not None else settings.port
    log.info("listening", extra={"url": f"http://{settings.host}:{port}/", "data_dir": str(settings.data_dir)})
    server.run(sockets=[sock] if sock is not None else None)
    return 0 if server.started else 1
