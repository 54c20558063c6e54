"""The event loop's side of the journal process: frames out, acknowledgements in, futures resolved.

The frames carry either rows (EVENTS, from a sink that ran the pipeline itself) or raw requests
(REQUESTS: the process runs the pipeline, ingestd.py, and answers each request). Everything here
runs in the loop's own thread (add_reader / add_writer on a socket pair), so a commit never waits
for another thread to get the GIL. Without a running loop (tests, closing) the same exchange happens
with blocking calls.

The rows come back separately, in ROWS batches for the DuckDB loader (shipping.py); `shipped` is
where the last batch ended, and a new journal process starts by shipping whatever comes after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collector.durable.commits import CommitStats, WriteFailed, settle
from collector.durable.framing import request_frames, row_frames
from collector.durable.journal import Journal, Position, Sealer
from collector.durable.process import (
    EVENTS,
    FAILED,
    LOCK_WAIT_SECONDS,
    REQUESTS,
    ROTATE,
    ROTATED,
    ROWS,
    SALTS,
    SHIP,
    STOP,
    Frame,
    frame,
    take_frames,
)
from collector.durable.shipping import SHIP_SECONDS
from collector.durable.spawn import start_journal_process
from collector.durable.zygote import exited, kill
from collector.ingest.accept import Refusal
from collector.ingest.handler import Answers, IngestConfig, RawRequest, load_answers
from collector.storage.batches import Row

log = logging.getLogger("collector.writer")


@dataclass(slots=True)
class _Rotate:
    """A request for a new segment; `ended` is where the old one ended."""

    done: threading.Event = field(default_factory=threading.Event)
    ended: Position | None = None


@dataclass(slots=True)
class _Group:
    """One EVENTS or REQUESTS frame sent to the journal process, and the requests waiting for it."""

    seq: int
    events: int | None  # None for REQUESTS: their answers say how many events they stored
    futures: list[asyncio.Future[Any]]


# Hears of every batch of durable rows: the batch (shipping.decode reads it), its rows, the journal end.
Durable = Callable[[bytes, int, Position], None]


class JournalLink:
    """Starts the journal process and talks to it; `on_durable(batch, rows, end)` hears of every batch of rows."""

    def __init__(
        self,
        journal: Journal,
        sealer: Sealer,
        on_durable: Durable,
        stats: CommitStats,
        lock_wait: float = LOCK_WAIT_SECONDS,
        ingest: IngestConfig | None = None,
        on_answers: Callable[[Answers], None] | None = None,
        ship_seconds: float = SHIP_SECONDS,
    ) -> None:
        self.journal = journal
        self.ship_seconds = ship_seconds
        self.ingest = ingest
        self.on_answers = on_answers
        self._salts_sent = -1
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
        self._outbox: list[tuple[list[Row], asyncio.Future[None]]] = []
        self._requests: list[tuple[RawRequest | None, asyncio.Future[Refusal | None]]] = []
        self._flush_scheduled = False
        self._groups: deque[_Group] = deque()
        self._rotations: dict[int, _Rotate] = {}
        self._seq = 0

    @property
    def queue_depth(self) -> int:
        return len(self._outbox) + len(self._requests) + sum(len(g.futures) for g in self._groups)

    def start(self) -> None:
        self._spawn()
        with contextlib.suppress(RuntimeError):  # no loop yet: the first write binds one
            self._bind(asyncio.get_running_loop())

    async def write(self, rows: list[Row]) -> None:
        loop = self._bound_loop()
        if loop is None:
            assert self._loop is not None
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.write(rows), self._loop))
            return
        await self._enqueue(loop, self._outbox, rows)

    async def submit(self, request: RawRequest | None) -> Refusal | None:
        """Have the journal process accept one request (ingestd.py): None once its events are durable.

        A None request is a probe: it goes the whole way through the process and brings back its counters.
        """
        loop = self._bound_loop()
        if loop is None:
            assert self._loop is not None
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.submit(request), self._loop))
        refusal: Refusal | None = await self._enqueue(loop, self._requests, request)
        return refusal

    def _bound_loop(self) -> asyncio.AbstractEventLoop | None:
        """The running loop, if the answers are read on it; None while another running loop has them."""
        if self.closed:
            raise WriteFailed("the writer is shutting down")
        loop = asyncio.get_running_loop()
        return loop if loop is self._loop or self._bind(loop) else None

    def _enqueue(self, loop: asyncio.AbstractEventLoop, outbox: list[Any], item: object) -> asyncio.Future[Any]:
        """Queue an item for this turn's frames (flushed once, after every handler of the turn has run)."""
        if self._sock is None:
            self._spawn()
            self._bind(loop)
        future: asyncio.Future[Any] = loop.create_future()
        outbox.append((item, future))
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
            self._send(frame(STOP))
            self._exchange_blocking(lambda: False, 30.0)
        if self.pid is not None and not exited(self.pid, 30.0):
            kill(self.pid)

    def _spawn(self) -> None:
        ingest = self.ingest
        config = {
            "folder": str(self.journal.folder),
            "segment_bytes": self.journal.segment_bytes,
            "key": self.sealer.key,
            "lock_wait": self.lock_wait,
            "ingest": (ingest.settings, ingest.pepper, ingest.salts.known()) if ingest else None,
            "ship_from": tuple(self.shipped),
            "ship_seconds": self.ship_seconds,
        }
        self.pid, self._sock, self._in = start_journal_process(config, self._on_answer, self.lock_wait + 10)
        self._out = bytearray()
        self._salts_sent = ingest.salts.version if ingest else -1

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
        if self._requests:
            self._flush_requests()
        items, self._outbox = self._outbox, []
        for futures, rows, payload in row_frames(items):
            self._seq += 1
            self._groups.append(_Group(self._seq, rows, futures))
            self._send(frame(EVENTS, self._seq, payload))

    def _flush_requests(self) -> None:
        ingest = self.ingest
        if ingest is None:
            settle([f for _, f in self._requests], WriteFailed("this writer does not run the pipeline"))
            self._requests = []
            return
        self.send_salts()
        items, self._requests = self._requests, []
        for futures, payload in request_frames(items):
            self._seq += 1
            self._groups.append(_Group(self._seq, None, futures))
            self._send(frame(REQUESTS, self._seq, payload))

    def send_salts(self) -> None:
        """On the loop: give the journal process the salts if they changed since it last got them (a rotation)."""
        ingest = self.ingest
        if ingest is not None and self._sock is not None and ingest.salts.version != self._salts_sent:
            self._salts_sent = ingest.salts.version
            self._send(frame(SALTS, payload=pickle.dumps(ingest.salts.known())))

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
            data = self._sock.recv(1 << 18)
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

    def ship(self, timeout: float) -> None:
        """From any thread: have the journal process send the rows it holds now rather than when due."""
        if self.closed or self._sock is None:
            return
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._send, frame(SHIP))
        else:
            target = self.end
            self._send(frame(SHIP))
            self._exchange_blocking(lambda: self.shipped >= target, timeout)

    def _on_answer(self, answer: Frame) -> None:
        if answer.kind == ROWS:
            self.shipped = Position(answer.segment, answer.offset)
            self.on_durable(answer.payload, answer.seq, self.shipped)
            return
        if answer.kind == ROTATED or (answer.kind == FAILED and answer.seq in self._rotations):
            request = self._rotations.pop(answer.seq)
            if answer.kind == ROTATED:
                request.ended = Position(answer.segment, answer.offset)
            else:
                log.error("journal rotation failed: %s", answer.payload.decode(errors="replace"))
            request.done.set()
            return
        groups: list[_Group] = []
        while self._groups and self._groups[0].seq <= answer.seq:
            groups.append(self._groups.popleft())
        if answer.kind == FAILED:
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
            if group.events is not None:
                self.stats.events += group.events
                settle(group.futures, None)
            elif group.seq == answer.seq:
                self._answered(group, load_answers(answer.payload))
            else:  # not sent by the journal process; kept so that no request could wait forever
                settle(group.futures, WriteFailed("the journal process did not answer"))

    def _answered(self, group: _Group, answers: Answers) -> None:
        self.stats.events += answers.stored
        if self.on_answers is not None:
            self.on_answers(answers)
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
        waiting = [f for g in self._groups for f in g.futures] + [f for _, f in self._outbox]
        waiting += [f for _, f in self._requests]
        self._groups.clear()
        self._outbox = []
        self._requests = []
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
