"""Group commit through a journal: a 202 waits only for an fdatasync, DuckDB loads in large batches.

Handlers never touch DuckDB. They queue their events with a future and await it. The journal thread
takes everything queued, appends it to the journal as one encrypted record, fdatasyncs, and resolves
every future: that is the durable commit behind a 202. The loader thread takes what the journal
holds and inserts it into DuckDB as one Arrow table per transaction, together with the journal
position it has loaded through, so a crash between the two replays each record exactly once.

Small DuckDB transactions cost 4-20 ms each on these machines (the insert and its own WAL fsync), so
committing every group to DuckDB capped ingest near 64 events per commit; the journal's fsync is the
only wait on the request path, and DuckDB sees a few large batches a second instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import duckdb
import orjson

from collector.batches import BatchHook, Row, load_rows, replay, to_row
from collector.events import DropReason, Event
from collector.journal import Journal, Position, Sealer

log = logging.getLogger("collector.writer")


class Sink(Protocol):
    """Where accepted events go; the journal + DuckDB writer by default, another durable log when scaled out."""

    def start(self) -> None: ...
    async def write(self, events: Sequence[Event]) -> None: ...
    def count_drop(self, site: str, reason: DropReason) -> None: ...
    async def ping(self) -> None: ...
    def close(self) -> None: ...


class WriteFailed(Exception):
    """The events could not be made durable."""


@dataclass(slots=True)
class _Item:
    events: Sequence[Event]
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


_BUCKETS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, float("inf"))


@dataclass(slots=True)
class WriterStats:
    groups: int = 0
    events: int = 0
    failures: int = 0
    fsync_ms_total: float = 0.0
    fsync_ms_buckets: Counter[float] = field(default_factory=Counter)
    loads: int = 0
    loaded_events: int = 0
    load_ms_total: float = 0.0
    load_failures: int = 0
    replayed: int = 0

    def observe_fsync(self, ms: float) -> None:
        self.fsync_ms_total += ms
        self.fsync_ms_buckets[next(b for b in _BUCKETS if ms <= b)] += 1


_STOP = object()


@dataclass(slots=True)
class _Rotate:
    """Asks the journal thread for a new segment; `ended` is where the old one ended."""

    done: threading.Event = field(default_factory=threading.Event)
    ended: Position | None = None


class Writer:
    """The default sink: journal group commit plus a DuckDB loader, each in its own thread."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        journal: Journal,
        sealer: Sealer,
        batch_events: int = 20_000,
        hooks: Sequence[BatchHook] = (),
        load_interval: float = 0.25,
    ) -> None:
        self.con = con
        self.journal = journal
        self.sealer = sealer
        self.batch_events = batch_events
        self.hooks = list(hooks)
        self.load_interval = load_interval
        self.stats = WriterStats()
        self.load_error: str | None = None
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._drops: Counter[tuple[str, str, DropReason]] = Counter()
        self._pending: list[tuple[list[Row], Position]] = []
        self._cond = threading.Condition()
        # One load at a time: this writer's and the scale-out loader's (load_new), whose hooks upsert the same rows.
        self.db_lock = threading.Lock()
        self._loaded = Position(0, 0)
        self._stopping = False
        self._busy = False
        self._urgent = False
        self._pending_rows = 0
        self._closed = False
        self._journal_thread = threading.Thread(target=self._journal_loop, name="collector-journal", daemon=True)
        self._loader_thread = threading.Thread(target=self._load_loop, name="collector-loader", daemon=True)

    def start(self) -> None:
        self.stats.replayed = replay(self.con, self.journal, self.sealer)
        if self.stats.replayed:
            log.warning("replayed events from the journal after an unclean stop", extra={"events": self.stats.replayed})
        self._loaded = self.journal.end
        self._journal_thread.start()
        self._loader_thread.start()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    async def write(self, events: Sequence[Event]) -> None:
        if self._closed:
            raise WriteFailed("the writer is shutting down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Item(events, future, loop))
        await future

    async def ping(self) -> None:
        """Succeeds when the journal can fsync and the loader is keeping up without errors."""
        await self.write(())
        if self.load_error is not None:
            raise WriteFailed(f"loading into DuckDB fails: {self.load_error}")

    def count_drop(self, site: str, reason: DropReason) -> None:
        day = datetime.now(UTC).date().isoformat()
        with self._cond:
            self._drops[(site, day, reason)] += 1

    def sync(self, timeout: float = 30.0) -> bool:
        """Block until everything journaled so far is in DuckDB (for readers that must see the latest events)."""
        return self._wait_loaded(self.journal.end, timeout)

    def seal_off(self, timeout: float = 30.0) -> bool:
        """Load the journal into DuckDB, then delete it: nothing written before this call stays in the journal.

        Called after an erasure, so that the erased visitor's events do not outlive it there (sealed, but
        readable with the database key) until the segment would have filled up and rotated.
        """
        if self._closed:
            return False
        rotate = _Rotate()
        self._queue.put(rotate)
        if not rotate.done.wait(timeout) or rotate.ended is None:
            return False
        if not self._wait_loaded(rotate.ended, timeout):
            return False
        self.journal.drop_before(Position(rotate.ended.segment + 1, 0))  # not drop_older: the journal may have moved on
        return True

    def _wait_loaded(self, target: Position, timeout: float) -> bool:
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: (self._loaded >= target and not self._drops and not self._busy) or self.load_error is not None,
                timeout,
            )

    def close(self) -> None:
        """Stop taking events, journal what is queued, load everything, and stop both threads."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._journal_thread.join()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._loader_thread.join()
        self.journal.close()

    def _journal_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            if isinstance(first, _Rotate):
                self._rotate(first)
                continue
            items: list[_Item] = [first]  # type: ignore[list-item]
            stop = False
            rotate: _Rotate | None = None
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                if isinstance(item, _Rotate):
                    rotate = item
                    break
                items.append(item)  # type: ignore[arg-type]
            self._journal(items)
            if rotate is not None:
                self._rotate(rotate)
            if stop:
                return

    def _rotate(self, request: _Rotate) -> None:
        try:
            request.ended = self.journal.rotate()
        except OSError as exc:
            log.error("journal rotation failed: %s", exc)
        request.done.set()

    def _journal(self, items: list[_Item]) -> None:
        rows = [to_row(e) for item in items for e in item.events]
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            payloads = [self.sealer.seal(orjson.dumps(rows))] if rows else []
            position = self.journal.append(payloads)
        except Exception as exc:
            error = exc
            self.stats.failures += 1
            log.error("journal write failed: %s", exc)
        else:
            self.stats.observe_fsync((time.perf_counter() - started) * 1000)
            self.stats.groups += 1
            self.stats.events += len(rows)
            if rows:
                with self._cond:
                    self._pending.append((rows, position))
                    self._pending_rows += len(rows)
                    if self._pending_rows >= self.batch_events:
                        self._cond.notify_all()
        _resolve(items, error)

    def _load_loop(self) -> None:
        while True:
            with self._cond:
                # Few large transactions: DuckDB's cost is per commit. Readers that need the latest
                # events call sync(), which wakes this loop at once.
                self._cond.wait_for(
                    lambda: self._stopping or self._urgent or self._pending_rows >= self.batch_events,
                    timeout=self.load_interval,
                )
                self._urgent = False
                if not self._pending and not self._drops:
                    if self._stopping:
                        return
                    continue
                batch: list[Row] = []
                position: Position | None = None
                while self._pending and len(batch) < self.batch_events:
                    rows, position = self._pending.pop(0)
                    batch.extend(rows)
                self._pending_rows -= len(batch)
                drops, self._drops = self._drops, Counter()
                self._busy = True
            started = time.perf_counter()
            try:
                with self.db_lock:
                    load_rows(self.con, batch, position, self.hooks, drops)
            except Exception as exc:
                self.stats.load_failures += 1
                self.load_error = str(exc)
                log.error("loading %d events into DuckDB failed; retrying: %s", len(batch), exc)
                with self._cond:
                    self._busy = False
                    if batch and position is not None:
                        self._pending.insert(0, (batch, position))
                        self._pending_rows += len(batch)
                    self._drops.update(drops)
                    if self._stopping:
                        return  # the journal keeps them: the next start replays them
                time.sleep(0.5)
                continue
            self.load_error = None
            self.stats.loads += 1
            self.stats.loaded_events += len(batch)
            self.stats.load_ms_total += (time.perf_counter() - started) * 1000
            with self._cond:
                self._busy = False
                if position is not None:
                    self._loaded = position
                self._cond.notify_all()
            if position is not None:
                self.journal.drop_before(position)


def _resolve(items: list[_Item], error: BaseException | None) -> None:
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for item in items:
        by_loop.setdefault(item.loop, []).append(item.future)
    for loop, futures in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, futures, error)


def settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    """Resolve every waiting request's future: all stored, or all failed with the reason."""
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(WriteFailed(str(error)))
