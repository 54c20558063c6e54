"""The local admin socket: how CLI commands reach a running server instead of opening its locked database.

A Unix socket in the data directory, mode 0600, so only the owner of the data can use it. One JSON
request per line, one JSON answer per line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio.to_thread
import duckdb
import orjson

from collector.admin.ops import Op, OpError, run_op
from collector.settings import Settings
from collector.storage import store

log = logging.getLogger("collector.admin")
_LIMIT = 16 * 1024 * 1024


class ServerUnavailable(Exception):
    pass


# Operations after which the journal is loaded and deleted, so that erased events do not outlive them there.
SEALING_OPS = frozenset({"erase"})


class AdminServer:
    """Runs the operations in `ops` for the CLI, on cursors of the server's connection."""

    def __init__(
        self,
        settings: Settings,
        con: duckdb.DuckDBPyConnection,
        ops: Mapping[str, Op],
        sync: Callable[[], object],
        seal_off: Callable[[], object] = lambda: None,
    ) -> None:
        self.settings = settings
        self.con = con
        self.ops = ops
        self.sync = sync
        self.seal_off = seal_off
        self.path = settings.socket_path
        # Run after each operation, before it is answered, with its name: a feature brings what it holds in
        # memory up to date with what the operation changed, so a command that has returned is visible.
        self.settle: list[Callable[[str], object]] = []
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        if self.path.exists():
            if _answers(self.path):
                raise RuntimeError(f"another server answers on {self.path}")
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._handle, path=str(self.path), limit=_LIMIT)
        finally:
            os.umask(old)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            request = orjson.loads(line)
            answer = await anyio.to_thread.run_sync(self._run, str(request["op"]), dict(request.get("args") or {}))
        except (OpError, ValueError, KeyError, TypeError) as exc:
            answer = {"ok": False, "error": str(exc)}
        except Exception as exc:
            log.exception("admin operation failed")
            answer = {"ok": False, "error": f"operation failed: {exc}"}
        try:
            writer.write(orjson.dumps(answer, default=str, option=orjson.OPT_NAIVE_UTC) + b"\n")  # stored times are UTC
            await writer.drain()
        finally:
            writer.close()

    def _run(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        self.sync()  # a command sees every event acknowledged before it
        cursor = store.cursor(self.con)
        try:
            result = run_op(self.ops, name, cursor, self.settings, args)
        finally:
            cursor.close()
        if name in SEALING_OPS:
            self.seal_off()
        for settle in self.settle:
            settle(name)
        return {"ok": True, "result": result}


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def call(settings: Settings, name: str, args: dict[str, Any], timeout: float = 300.0) -> Any:
    """Run an operation in the running server; ServerUnavailable when none answers on the socket."""
    path = settings.socket_path
    if not path.exists():
        raise ServerUnavailable(str(path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError:
            raise ServerUnavailable(str(path)) from None
        sock.sendall(orjson.dumps({"op": name, "args": args}) + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    answer = orjson.loads(b"".join(chunks))
    if not answer.get("ok"):
        raise OpError(answer.get("error", "the server refused the operation"))
    return answer.get("result")
