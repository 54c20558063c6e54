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
import hashlib
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import duckdb
import orjson
import pyarrow as pa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from collector.events import DropReason, Event
from collector.journal import Journal, Position

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
UPSERT_DROPS = "INSERT INTO drops VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET events = drops.events + EXCLUDED.events"
_SAVE_POSITION = 'UPDATE journal_state SET segment = ?, "offset" = ? WHERE id = 1'
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = datetime.resolution

Row = tuple[Any, ...]
# Runs inside each load transaction while the batch is registered as the view `_batch`.
BatchHook = Callable[[duckdb.DuckDBPyConnection], None]


class Sink(Protocol):
    """Where accepted events go; the journal + DuckDB writer by default, another durable log when scaled out."""

    def start(self) -> None: ...
    async def write(self, events: Sequence[Event]) -> None: ...
    def count_drop(self, site: str, reason: DropReason) -> None: ...
    async def ping(self) -> None: ...
    def close(self) -> None: ...


class WriteFailed(Exception):
    """The events could not be made durable."""


def to_row(e: Event) -> Row:
    utm = e.utm
    micros = (e.ts - _EPOCH) // _MICRO
    props = orjson.dumps(e.props).decode() if e.props else None
    return (
        e.event_id, micros, e.site, e.name, e.hostname, e.path, e.referrer_host,
        utm.get("utm_source"), utm.get("utm_medium"), utm.get("utm_campaign"), utm.get("utm_term"),
        utm.get("utm_content"), e.visitor, e.consented, e.anonymous, e.device_type, e.device_brand,
        e.device_model, e.device_code, e.os_name, e.os_version, e.browser_name, e.browser_version,
        e.screen_w, e.screen_h, e.language, e.timezone, props,
    )  # fmt: skip


def rows_to_table(rows: Sequence[Row]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(SCHEMA)
    return pa.Table.from_arrays(
        [pa.array(col, type=f.type) for col, f in zip(columns, SCHEMA, strict=True)], schema=SCHEMA
    )


def load_rows(
    con: duckdb.DuckDBPyConnection,
    rows: Sequence[Row],
    position: Position | None,
    hooks: Sequence[BatchHook] = (),
    drops: Counter[tuple[str, str, DropReason]] | None = None,
) -> None:
    """Insert rows (and the journal position they end at) in one DuckDB transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        if rows:
            con.register("_batch", rows_to_table(rows))
            try:
                con.execute(_INSERT)
                for hook in hooks:
                    hook(con)
            finally:
                con.unregister("_batch")
        if drops:
            con.executemany(UPSERT_DROPS, [[s, d, r.value, n] for (s, d, r), n in drops.items()])
        if position is not None:
            con.execute(_SAVE_POSITION, [position.segment, position.offset])
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise


class Sealer:
    """AES-GCM for journal records, keyed from the database key: the journal is encrypted at rest too."""

    def __init__(self, database_key: str | None) -> None:
        self.aead = AESGCM(hashlib.sha256(b"journal\n" + database_key.encode()).digest()) if database_key else None

    def seal(self, data: bytes) -> bytes:
        if self.aead is None:
            return data
        nonce = os.urandom(12)
        return nonce + self.aead.encrypt(nonce, data, None)

    def open(self, data: bytes) -> bytes:
        if self.aead is None:
            return data
        return self.aead.decrypt(data[:12], data[12:], None)


def stored_position(con: duckdb.DuckDBPyConnection) -> Position:
    row = con.execute('SELECT segment, "offset" FROM journal_state WHERE id = 1').fetchone()
    return Position(int(row[0]), int(row[1])) if row else Position(0, 0)


def replay(con: duckdb.DuckDBPyConnection, journal: Journal, sealer: Sealer, batch_rows: int = 20_000) -> int:
    """Load every journal record not yet in the database (after a crash); return the events loaded."""
    journal.truncate_torn_tail()
    rows: list[Row] = []
    position: Position | None = None
    loaded = 0
    for position, payload in journal.read_from(stored_position(con)):
        rows.extend(tuple(r) for r in orjson.loads(sealer.open(payload)))
        if len(rows) >= batch_rows:
            load_rows(con, rows, position)
            loaded += len(rows)
            rows = []
    if position is not None:
        load_rows(con, rows, position)
        loaded += len(rows)
        journal.drop_before(position)
    return loaded


@dataclass(slots=True)
class _Item:
    events: Sequence[Event]
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop
    rows: Sequence[Row] | None = None  # rows already in SCHEMA order (from the scale-out stream)


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

    async def write_rows(self, rows: Sequence[Row]) -> None:
        """Journal rows that are already in SCHEMA order (the scale-out loader's), like write() does events."""
        if self._closed:
            raise WriteFailed("the writer is shutting down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Item((), future, loop, rows))
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
        rows = [r for item in items for r in (item.rows if item.rows is not None else map(to_row, item.events))]
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
