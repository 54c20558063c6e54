"""The event loop's side of the journal process: requests out, answers in, futures resolved.

The frames carry raw requests (REQUESTS): the process runs the server's handler on them, journals
the rows it keeps and answers each request (wire.py). Everything here runs in the loop's own thread
(add_reader / add_writer on a socket pair), so a commit never waits for another thread to get the GIL.
Without a running loop (tests, closing) the same exchange happens with blocking calls.

The rows come back separately, in ROWS batches for the DuckDB loader (shipping.py); `shipped` is
where the last batch ended, and a new journal process starts by shipping whatever comes after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collector.durable.commits import CommitStats, WriteFailed, settle
from collector.durable.counts import Report
from collector.durable.framing import request_frames
from collector.durable.journal import Journal, Position, Sealer
from collector.durable.spawn import start_journal_process
from collector.durable.wire import (
    LOCK_WAIT_SECONDS,
    SHIP_SECONDS,
    Answers,
    Frame,
    HandlerSource,
    JournalConfig,
    Kind,
    RawRequest,
    Refusal,
    decode,
    dump_requests,
    encode,
    load_answers,
)
from collector.durable.zygote import exited, kill

log = logging.getLogger("collector.journal")


@dataclass(slots=True)
class _Rotate:
    """A request for a new segment; `ended` is where the old one ended."""

    done: threading.Event = field(default_factory=threading.Event)
    ended: Position | None = None


@dataclass(slots=True)
class _Group:
    """One REQUESTS frame sent to the journal process, and the requests (or probes) waiting for it."""

    seq: int
    futures: list[asyncio.Future[Any]]
    probe: bool = False  # an empty frame: it only brings back the handler's counters


# A REQUESTS frame of no requests: it goes the whole way through the journal process (and an fdatasync).
PROBE = dump_requests([])


# Hears of every batch of durable rows: the batch (shipping.decode reads it), its rows, the journal end.
Durable = Callable[[bytes, int, Position], None]


class JournalLink:
    """Starts the journal process and talks to it; `on_durable(batch, rows, end)` hears of every batch of rows,
    `on_report` of the handler's counters with every answer."""

    def __init__(
        self,
        journal: Journal,
        sealer: Sealer,
        on_durable: Durable,
        stats: CommitStats,
        handlers: HandlerSource,
        on_report: Callable[[Report], None] = lambda report: None,
        lock_wait: float = LOCK_WAIT_SECONDS,
        ship_seconds: float = SHIP_SECONDS,
    ) -> None:
        self.journal = journal
        self.ship_seconds = ship_seconds
        self.handlers = handlers
        self.on_report = on_report
        self.lock_wait = lock_wait
        self.sealer = sealer
        self.on_durable = on_durable
        self.stats = stats
        self.end = self.shipped = journal.end
        self.closed = False
        self.pid: int | None = None  # of the journal process, forked by the zygote
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out = bytearray()
        self._in = bytearray()
        self._requests: list[tuple[RawRequest, asyncio.Future[Refusal | None]]] = []
        self._probes: list[asyncio.Future[None]] = []
        self._flush_scheduled = False
        self._groups: deque[_Group] = deque()
        self._rotations: dict[int, _Rotate] = {}
        self._seq = 0

    @property
    def queue_depth(self) -> int:
        return len(self._requests) + len(self._probes) + sum(len(g.futures) for g in self._groups)

    def start(self) -> None:
        self._spawn()
        with contextlib.suppress(RuntimeError):  # no loop yet: the first write binds one
            self._bind(asyncio.get_running_loop())

    async def submit(self, request: RawRequest) -> Refusal | None:
        """Have the journal process's handler accept one request: None once its rows are durable."""
        loop = self._bound_loop()
        if loop is None:
            assert self._loop is not None
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.submit(request), self._loop))
        future: asyncio.Future[Refusal | None] = self._waiter(loop)
        self._requests.append((request, future))
        return await future

    async def probe(self) -> None:
        """A frame of no requests, the whole way through the journal process: it brings back the counters."""
        loop = self._bound_loop()
        if loop is None:
            assert self._loop is not None
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.probe(), self._loop))
            return
        future: asyncio.Future[None] = self._waiter(loop)
        self._probes.append(future)
        await future

    def _bound_loop(self) -> asyncio.AbstractEventLoop | None:
        """The running loop, if the answers are read on it; None while another running loop has them."""
        if self.closed:
            raise WriteFailed("the writer is shutting down")
        loop = asyncio.get_running_loop()
        return loop if loop is self._loop or self._bind(loop) else None

    def _waiter(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        """A future for something queued for this turn's frames (sent once, after every handler of the turn)."""
        if self._sock is None:
            self._spawn()
            self._bind(loop)
        future: asyncio.Future[Any] = loop.create_future()
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

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
            self._send(encode(Kind.STOP))
            self._exchange_blocking(lambda: False, 30.0)
        if self.pid is not None and not exited(self.pid, 30.0):
            kill(self.pid)

    def _spawn(self) -> None:
        config = JournalConfig(
            folder=self.journal.folder,
            segment_bytes=self.journal.segment_bytes,
            key=self.sealer.key,
            handler=self.handlers.spec(),
            ship_from=self.shipped,
            ship_seconds=self.ship_seconds,
            lock_wait=self.lock_wait,
        )
        self.pid, self._sock, self._in = start_journal_process(config, self._on_answer, self.lock_wait + 10)
        self._out = bytearray()

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
        if not self._requests and not self._probes:
            return
        self.send_changes()
        items, self._requests = self._requests, []
        for futures, payload in request_frames(items):
            self._seq += 1
            self._groups.append(_Group(self._seq, futures))
            self._send(encode(Kind.REQUESTS, self._seq, payload))
        if self._probes:
            self._seq += 1
            self._groups.append(_Group(self._seq, list(self._probes), probe=True))
            self._probes = []
            self._send(encode(Kind.REQUESTS, self._seq, PROBE))

    def send_changes(self) -> None:
        """On the loop: give the journal process what changed for its handler since it last heard (salts)."""
        if self._sock is not None and (update := self.handlers.changes()) is not None:
            self._send(encode(Kind.UPDATE, payload=update))

    def _request_rotation(self, request: _Rotate) -> None:
        if self._sock is None:
            request.done.set()
            return
        self._flush()
        self._seq += 1
        self._rotations[self._seq] = request
        self._send(encode(Kind.ROTATE, self._seq))

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
            data = self._sock.recv(1 << 18)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._gone()
            return
        self._in += data
        for answer in decode(self._in):
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
                for answer in decode(self._in):
                    self._on_answer(answer)
        except OSError as exc:
            log.error("the journal process did not answer: %s", exc)
        if self.closed or not done():
            self._gone()
        else:
            sock.setblocking(False)
            if self._loop is not None and not self._loop.is_closed():
                self._bind(self._loop)

    def ship(self, timeout: float) -> None:
        """From any thread: have the journal process send the rows it holds now rather than when due."""
        if self.closed or self._sock is None:
            return
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._send, encode(Kind.SHIP))
        else:
            target = self.end
            self._send(encode(Kind.SHIP))
            self._exchange_blocking(lambda: self.shipped >= target, timeout)

    def _on_answer(self, answer: Frame) -> None:
        if answer.kind == Kind.ROWS:
            self.shipped = Position(answer.segment, answer.offset)
            self.on_durable(answer.payload, answer.seq, self.shipped)
            return
        if answer.kind == Kind.ROTATED or (answer.kind == Kind.FAILED and answer.seq in self._rotations):
            request = self._rotations.pop(answer.seq)
            if answer.kind == Kind.ROTATED:
                request.ended = Position(answer.segment, answer.offset)
            else:
                log.error("journal rotation failed: %s", answer.payload.decode(errors="replace"))
            request.done.set()
            return
        groups: list[_Group] = []
        while self._groups and self._groups[0].seq <= answer.seq:
            groups.append(self._groups.popleft())
        if answer.kind == Kind.FAILED:
            error = WriteFailed(answer.payload.decode(errors="replace"))
            self.stats.failures += 1
            log.error("journal write failed: %s", error)
            settle([f for g in groups for f in g.futures], error)
            return
        end = Position(answer.segment, answer.offset)
        if end != self.end:  # one fdatasync acknowledges every frame it made durable, each with the same end
            self.stats.observe_fsync(answer.micros / 1000)
            self.stats.groups += 1
        self.end = end
        for group in groups:
            if group.seq == answer.seq:
                self._answered(group, load_answers(answer.payload))
            else:  # not sent by the journal process; kept so that no request could wait forever
                settle(group.futures, WriteFailed("the journal process did not answer"))

    def _answered(self, group: _Group, answers: Answers) -> None:
        self.stats.events += answers.report.stored
        self.on_report(answers.report)
        if group.probe:
            settle(group.futures, None)
            return
        for future, refusal in zip(group.futures, answers.refusals, strict=True):
            if not future.done():
                future.set_result(refusal)

    def _gone(self) -> None:
        """The journal process exited: fail whatever waits on it, and start a new one, which first ships
        the rows the old one had appended but not yet shipped."""
        self._detach()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if not self.closed:
            log.error("the journal process exited; starting a new one")
            if self._loop is not None and self._loop.is_running():
                self._loop.call_soon(self._restart)
        waiting = [f for g in self._groups for f in g.futures] + [f for _, f in self._requests] + self._probes
        self._groups.clear()
        self._requests = []
        self._probes = []
        for request in self._rotations.values():
            request.done.set()
        self._rotations.clear()
        settle(waiting, WriteFailed("the journal process exited"))

    def _restart(self) -> None:
        if self._sock is not None or self.closed:
            return
        try:
            self._spawn()
        except WriteFailed as exc:
            log.error("%s; trying again on the next write", exc)
            return
        if self._loop is not None:
            self._bind(self._loop)
