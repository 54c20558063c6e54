"""Group commit: one thread owns the DuckDB connection and commits whatever is queued in one transaction.

Handlers never touch DuckDB. They queue their events with a future and await it; the writer takes
everything queued (up to a batch size), inserts it as one Arrow table, upserts the batch's aggregates,
commits, then resolves every future. A failed commit fails the futures, so no client gets a false 202.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import duckdb
import orjson
import pyarrow as pa

from collector.events import DropReason, Event

log = logging.getLogger("collector.writer")

SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("ts", pa.timestamp("us")),
        ("site", pa.string()),
        ("name", pa.string()),
        ("hostname", pa.string()),
        ("path", pa.string()),
        ("referrer_host", pa.string()),
        ("utm_source", pa.string()),
        ("utm_medium", pa.string()),
        ("utm_campaign", pa.string()),
        ("utm_term", pa.string()),
        ("utm_content", pa.string()),
        ("visitor", pa.uint64()),
        ("consented", pa.bool_()),
        ("anonymous", pa.bool_()),
        ("device_type", pa.string()),
        ("device_brand", pa.string()),
        ("device_model", pa.string()),
        ("device_code", pa.string()),
        ("os_name", pa.string()),
        ("os_version", pa.string()),
        ("browser_name", pa.string()),
        ("browser_version", pa.string()),
        ("screen_w", pa.int32()),
        ("screen_h", pa.int32()),
        ("language", pa.string()),
        ("timezone", pa.string()),
        ("props", pa.string()),
    ]
)
# BY NAME: later migrations may add columns with defaults without touching this statement.
_INSERT = "INSERT INTO events BY NAME SELECT * FROM _batch"
_UPSERT_DROPS = (
    "INSERT INTO drops VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET events = drops.events + EXCLUDED.events"
)


class Sink(Protocol):
    """Where accepted events go; the DuckDB writer by default, another durable log when scaled out."""

    def start(self) -> None: ...
    async def write(self, events: Sequence[Event]) -> None: ...
    def count_drop(self, site: str, reason: DropReason) -> None: ...
    async def ping(self) -> None: ...
    def close(self) -> None: ...


class WriteFailed(Exception):
    """The batch holding these events could not be committed."""


@dataclass(slots=True)
class _Item:
    events: Sequence[Event]
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


@dataclass(slots=True)
class WriterStats:
    batches: int = 0
    events: int = 0
    failures: int = 0
    last_commit_ms: float = 0.0
    commit_ms_total: float = 0.0
    largest_batch: int = 0
    commit_ms_buckets: Counter[float] = field(default_factory=Counter)


_STOP = object()
_BUCKETS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, float("inf"))


def rows_to_table(events: Sequence[Event]) -> pa.Table:
    columns: dict[str, list[object]] = {f.name: [] for f in SCHEMA}
    for e in events:
        utm = e.utm
        columns["event_id"].append(e.event_id)
        columns["ts"].append(e.ts.replace(tzinfo=None))
        columns["site"].append(e.site)
        columns["name"].append(e.name)
        columns["hostname"].append(e.hostname)
        columns["path"].append(e.path)
        columns["referrer_host"].append(e.referrer_host)
        columns["utm_source"].append(utm.get("utm_source"))
        columns["utm_medium"].append(utm.get("utm_medium"))
        columns["utm_campaign"].append(utm.get("utm_campaign"))
        columns["utm_term"].append(utm.get("utm_term"))
        columns["utm_content"].append(utm.get("utm_content"))
        columns["visitor"].append(e.visitor)
        columns["consented"].append(e.consented)
        columns["anonymous"].append(e.anonymous)
        columns["device_type"].append(e.device_type)
        columns["device_brand"].append(e.device_brand)
        columns["device_model"].append(e.device_model)
        columns["device_code"].append(e.device_code)
        columns["os_name"].append(e.os_name)
        columns["os_version"].append(e.os_version)
        columns["browser_name"].append(e.browser_name)
        columns["browser_version"].append(e.browser_version)
        columns["screen_w"].append(e.screen_w)
        columns["screen_h"].append(e.screen_h)
        columns["language"].append(e.language)
        columns["timezone"].append(e.timezone)
        columns["props"].append(orjson.dumps(e.props).decode() if e.props else None)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


BatchHook = Callable[[duckdb.DuckDBPyConnection, Sequence[Event]], None]


class Writer:
    """The DuckDB group-commit writer thread."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        batch_events: int = 2000,
        linger_ms: float = 0.0,
        hooks: Sequence[BatchHook] = (),
    ) -> None:
        self.con = con
        self.batch_events = batch_events
        self.linger = linger_ms / 1000
        self.hooks = list(hooks)
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._drops: Counter[tuple[str, str, DropReason]] = Counter()
        self._drops_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="collector-writer", daemon=True)
        self._closed = False

    def start(self) -> None:
        self._thread.start()

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
        await self.write(())

    def count_drop(self, site: str, reason: DropReason) -> None:
        day = datetime.now(UTC).date().isoformat()
        with self._drops_lock:
            self._drops[(site, day, reason)] += 1

    def close(self) -> None:
        """Stop taking events, commit what is queued, and stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        self._commit([])

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            items = [first]
            count = len(first.events)  # type: ignore[attr-defined]
            deadline = time.monotonic() + self.linger
            stop = False
            while count < self.batch_events:
                try:
                    item = (
                        self._queue.get_nowait()
                        if self.linger <= 0
                        else self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    )
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                items.append(item)
                count += len(item.events)  # type: ignore[attr-defined]
            self._commit(items)  # type: ignore[arg-type]
            if stop:
                return

    def _commit(self, items: list[_Item]) -> None:
        events = [e for item in items for e in item.events]
        with self._drops_lock:
            drops, self._drops = self._drops, Counter()
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            self.con.execute("BEGIN TRANSACTION")
            if events:
                self.con.register("_batch", rows_to_table(events))
                try:
                    self.con.execute(_INSERT)
                finally:
                    self.con.unregister("_batch")
                for hook in self.hooks:
                    hook(self.con, events)
            if drops:
                self.con.executemany(_UPSERT_DROPS, [[s, d, r.value, n] for (s, d, r), n in drops.items()])
            if not events and not drops:
                self.con.execute("UPDATE heartbeat SET ts = now()::TIMESTAMP WHERE id = 1")
            self.con.execute("COMMIT")
        except Exception as exc:
            error = exc
            self.stats.failures += 1
            log.error("batch of %d events failed to commit: %s", len(events), exc)
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            with self._drops_lock:
                self._drops.update(drops)
        elapsed = (time.perf_counter() - started) * 1000
        if error is None:
            self.stats.batches += 1
            self.stats.events += len(events)
            self.stats.largest_batch = max(self.stats.largest_batch, len(events))
            self.stats.last_commit_ms = elapsed
            self.stats.commit_ms_total += elapsed
            self.stats.commit_ms_buckets[next(b for b in _BUCKETS if elapsed <= b)] += 1
        self._resolve(items, error)

    @staticmethod
    def _resolve(items: list[_Item], error: BaseException | None) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for item in items:
            by_loop.setdefault(item.loop, []).append(item.future)
        for loop, futures in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_settle, futures, error)


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(WriteFailed(str(error)))
