"""The event loop's side of the journal process: frames out, acknowledgements in, futures resolved.

Everything here runs in the loop's own thread (add_reader / add_writer on a socket pair), so a commit
never waits for another thread to get the GIL. Without a running loop (tests, closing) the same
exchange happens with blocking calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from collector.journal import Journal, Position, Sealer
from collector.journald import (
    CONFIG,
    EVENTS,
    FAILED,
    LOCK_WAIT_SECONDS,
    READY,
    ROTATE,
    ROTATED,
    STOP,
    Frame,
    frame,
    take_frames,
)

log = logging.getLogger("collector.writer")

Row = tuple[Any, ...]
MAX_FRAME_BYTES = 4 << 20  # well under the journal's record limit
COMMIT_BUCKETS_MS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, float("inf"))


class WriteFailed(Exception):
    """The events could not be made durable."""


@dataclass(slots=True)
class CommitStats:
    groups: int = 0
    events: int = 0
    failures: int = 0
    fsync_ms_total: float = 0.0
    fsync_ms_buckets: Counter[float] = field(default_factory=Counter)

    def observe_fsync(self, ms: float) -> None:
        self.fsync_ms_total += ms
        self.fsync_ms_buckets[next(b for b in COMMIT_BUCKETS_MS if ms <= b)] += 1


@dataclass(slots=True)
class _Rotate:
    """A request for a new segment; `ended` is where the old one ended."""

    done: threading.Event = field(default_factory=threading.Event)
    ended: Position | None = None


@dataclass(slots=True)
class _Group:
    """One EVENTS frame sent to the journal process: its rows and the requests waiting for them."""

    seq: int
    rows: list[Row]
    futures: list[asyncio.Future[None]]


Durable = Callable[[list[Row], Position], None]


class JournalLink:
    """Starts the journal process and talks to it; `on_durable(rows, end)` hears of every commit."""

    def __init__(self, journal: Journal, sealer: Sealer, on_durable: Durable, stats: CommitStats) -> None:
        self.journal = journal
        self.sealer = sealer
        self.on_durable = on_durable
        self.stats = stats
        self.end = journal.end
        self.closed = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out = bytearray()
        self._in = bytearray()
        self._outbox: list[tuple[list[Row], asyncio.Future[None]]] = []
        self._flush_scheduled = False
        self._groups: deque[_Group] = deque()
        self._rotations: dict[int, _Rotate] = {}
        self._seq = 0

    @property
    def queue_depth(self) -> int:
        return len(self._outbox) + sum(len(g.futures) for g in self._groups)

    def start(self) -> None:
        self._spawn()
        with contextlib.suppress(RuntimeError):  # no loop yet: the first write binds one
            self._bind(asyncio.get_running_loop())

    async def write(self, rows: list[Row]) -> None:
        if self.closed:
            raise WriteFailed("the writer is shutting down")
        loop = asyncio.get_running_loop()
        if loop is not self._loop and not self._bind(loop):
            assert self._loop is not None
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.write(rows), self._loop))
            return
        if self._sock is None:
            self._spawn()
            self._bind(loop)
        future: asyncio.Future[None] = loop.create_future()
        self._outbox.append((rows, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        await future

    def rotate(self, timeout: float) -> Position | None:
        """From any thread: start a new segment after everything sent so far; where the old one ended."""
        if self.closed:
            return None
        request = _Rotate()
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._request_rotation, request)
        else:
            self._request_rotation(request)
            self._exchange_blocking(request.done.is_set, timeout)
        request.done.wait(timeout)
        return request.ended

    def close(self) -> None:
        """Send what is queued, wait for its acknowledgement, and stop the process."""
        if self.closed:
            return
        self.closed = True
        if self._sock is not None:
            self._flush()
            self._send(frame(STOP))
            self._exchange_blocking(lambda: False, 30.0)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        with theirs:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", "from collector.journald import main; main()", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        config = {
            "folder": str(self.journal.folder),
            "segment_bytes": self.journal.segment_bytes,
            "key": self.sealer.key.hex() if self.sealer.key else None,
        }
        self._in = bytearray()
        ready: list[Frame] = []
        ours.settimeout(LOCK_WAIT_SECONDS + 10)
        try:
            ours.sendall(frame(CONFIG, payload=orjson.dumps(config)))
            while not (ready := take_frames(self._in, limit=1)):
                data = ours.recv(1 << 16)
                if not data:
                    break
                self._in += data
        except OSError:
            pass
        if not ready or ready[0].kind != READY:
            ours.close()
            self._proc.kill()
            raise WriteFailed(f"the journal process did not start (its error is logged above): {self.journal.folder}")
        ours.setblocking(False)
        self._sock, self._out = ours, bytearray()

    def _bind(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Take acknowledgements on this loop, unless another one that still runs has them."""
        if self._loop is not None and self._loop is not loop and self._loop.is_running():
            return False
        self._loop = loop
        if self._sock is not None:
            loop.add_reader(self._sock.fileno(), self._on_readable)
            if self._out:
                loop.add_writer(self._sock.fileno(), self._on_writable)
        return True

    def _detach(self) -> None:
        if self._loop is not None and self._sock is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._sock.fileno())
            self._loop.remove_writer(self._sock.fileno())

    def _flush(self) -> None:
        self._flush_scheduled = False
        items, self._outbox = self._outbox, []
        while items:
            chunk = items
            rows = [r for rs, _ in chunk for r in rs]
            payload = orjson.dumps(rows) if rows else b""
            while len(payload) > MAX_FRAME_BYTES and len(chunk) > 1:
                chunk = chunk[: len(chunk) // 2]
                rows = [r for rs, _ in chunk for r in rs]
                payload = orjson.dumps(rows)
            items = items[len(chunk) :]
            self._seq += 1
            self._groups.append(_Group(self._seq, rows, [f for _, f in chunk]))
            self._send(frame(EVENTS, self._seq, payload))

    def _request_rotation(self, request: _Rotate) -> None:
        if self._sock is None:
            request.done.set()
            return
        self._flush()
        self._seq += 1
        self._rotations[self._seq] = request
        self._send(frame(ROTATE, self._seq))

    def _send(self, data: bytes) -> None:
        if self._sock is None:
            return
        if not self._out:
            try:
                sent = self._sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._gone()
                return
            data = data[sent:]
            if not data:
                return
            if self._loop is not None and not self._loop.is_closed():
                self._loop.add_writer(self._sock.fileno(), self._on_writable)
        self._out += data

    def _on_writable(self) -> None:
        assert self._sock is not None
        try:
            sent = self._sock.send(self._out)
        except BlockingIOError:
            return
        except OSError:
            self._gone()
            return
        del self._out[:sent]
        if not self._out and self._loop is not None:
            self._loop.remove_writer(self._sock.fileno())

    def _on_readable(self) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._gone()
            return
        self._in += data
        for answer in take_frames(self._in):
            self._on_answer(answer)

    def _exchange_blocking(self, done: Callable[[], bool], timeout: float) -> None:
        """Talk to the journal process without an event loop (before one runs, or while closing)."""
        self._detach()
        sock = self._sock
        if sock is None:
            return
        sock.settimeout(timeout)
        try:
            if self._out:
                sock.sendall(self._out)
                self._out.clear()
            while not done():
                data = sock.recv(1 << 16)
                if not data:
                    break
                self._in += data
                for answer in take_frames(self._in):
                    self._on_answer(answer)
        except OSError as exc:
            log.error("the journal process did not answer: %s", exc)
        if self.closed or not done():
            self._gone()
        else:
            sock.setblocking(False)
            if self._loop is not None and not self._loop.is_closed():
                self._bind(self._loop)

    def _on_answer(self, answer: Frame) -> None:
        if answer.kind == ROTATED or (answer.kind == FAILED and answer.seq in self._rotations):
            request = self._rotations.pop(answer.seq)
            if answer.kind == ROTATED:
                request.ended = Position(answer.segment, answer.offset)
            else:
                log.error("journal rotation failed: %s", answer.payload.decode(errors="replace"))
            request.done.set()
            return
        rows: list[Row] = []
        futures: list[asyncio.Future[None]] = []
        while self._groups and self._groups[0].seq <= answer.seq:
            group = self._groups.popleft()
            rows.extend(group.rows)
            futures.extend(group.futures)
        if answer.kind == FAILED:
            error = WriteFailed(answer.payload.decode(errors="replace"))
            self.stats.failures += 1
            log.error("journal write failed: %s", error)
            settle(futures, error)
            return
        self.end = Position(answer.segment, answer.offset)
        self.stats.observe_fsync(answer.micros / 1000)
        self.stats.groups += 1
        self.stats.events += len(rows)
        if rows:
            self.on_durable(rows, self.end)
        settle(futures, None)

    def _gone(self) -> None:
        """The journal process exited: fail whatever waits on it; the next write starts a new one."""
        self._detach()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if not self.closed:
            log.error("the journal process exited; starting a new one on the next write")
        waiting = [f for g in self._groups for f in g.futures] + [f for _, f in self._outbox]
        self._groups.clear()
        self._outbox = []
        for request in self._rotations.values():
            request.done.set()
        self._rotations.clear()
        settle(waiting, WriteFailed("the journal process exited"))


def settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """Resolve every waiting request's future: all stored, or all failed with the reason."""
    for future in futures:
        if future.done() or future.get_loop().is_closed():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(WriteFailed(str(error)))
