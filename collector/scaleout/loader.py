"""`collector load --source nats://...`: consume the stream into DuckDB, acknowledging only after the commit.

The loader is the collector that owns the DuckDB file (so the read APIs and CLI operations run here)
plus a durable JetStream consumer inserting straight into DuckDB, with the writer's hooks and under
its lock. A message is acknowledged only once its events are committed; a crash in between replays
it, and the replay is recognised by event id (already in `events` within the batch's time range).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any, TypeVar

import anyio.to_thread
import duckdb
import nats.errors
import orjson
import pyarrow as pa
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from collector.app import serve
from collector.durable.writer import Writer
from collector.feature import Feature
from collector.http.app import Live
from collector.scaleout.stream import (
    DROPS_SUBJECT,
    EVENTS_SUBJECT,
    STREAM,
    BadMessage,
    Columns,
    check_servers,
    close_quietly,
    connect,
    decode,
    ensure_stream,
    parse_servers,
)
from collector.settings import ConfigError, Settings
from collector.storage import store
from collector.storage.batches import UPSERT_DROPS, load_unseen
from collector.storage.rows import SCHEMA, columns_to_table, first_occurrences

log = logging.getLogger("collector.loader")
T = TypeVar("T")
DURABLE = "collector-loader"
ACK_WAIT_SECONDS = 10.0
MAX_ACK_PENDING = 2000
_DROPS_LOADED = "SELECT count(*) FROM loaded_drops WHERE msg_id = ?"
_MARK_DROPS = "INSERT INTO loaded_drops VALUES (?, ?)"
_FORGET_DROPS = "DELETE FROM loaded_drops WHERE loaded_at < ?"
CHUNK_ROWS = 4096
# DuckDB writes an insert of whole row groups (122,880 rows) straight to the file at commit; a smaller one goes
# through its WAL and a checkpoint as well. Measured here: ~5 us per event with the hooks at 250,000 a batch,
# 7-10 us at 60,000. A batch is as large as the backlog allows, up to this.
TARGET_EVENTS = 250_000
_VALUE_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)
# DuckDB refuses a value itself (not the disk or a conflict): retrying will not help.
_DATA_ERRORS = (duckdb.ConversionException, duckdb.InvalidInputException, duckdb.ConstraintException)


@dataclass(slots=True)
class LoaderStats:
    messages: int = 0
    events: int = 0
    replayed: int = 0
    batches: int = 0


@dataclass(slots=True)
class Batch:
    """One fetch, decoded: the events of its readable messages as one Arrow table, and its drop counts."""

    events: list[Msg]
    counts: list[int]  # events per message, in table order
    table: pa.Table | None
    drops: list[Msg]
    unique: pa.Table | None = None  # the table without repeated event ids (first_occurrences)

    @property
    def msgs(self) -> list[Msg]:
        return self.events + self.drops

    @property
    def total(self) -> int:
        return self.table.num_rows if self.table is not None else 0


class Tables:
    """Messages gathered into one Arrow table, in message order. Arrow messages (format 3) are taken as they are;
    JSON messages' columns are converted about CHUNK_ROWS rows at a time: few Arrow calls per event even for
    small messages, and Python objects for one chunk at a time only."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self.msgs: list[Msg] = []
        self.counts: list[int] = []
        self.bad: list[tuple[Msg, Exception]] = []
        self._msgs: list[Msg] = []
        self._parts: list[Columns] = []
        self._rows = 0

    def add(self, msg: Msg, columns: Columns | pa.Table) -> None:
        if isinstance(columns, pa.Table):
            self._convert()
            self.tables.append(columns)
            self.msgs.append(msg)
            self.counts.append(columns.num_rows)
            return
        self._msgs.append(msg)
        self._parts.append(columns)
        self._rows += len(columns[0])
        if self._rows >= CHUNK_ROWS:
            self._convert()

    def table(self) -> pa.Table | None:
        self._convert()
        return pa.concat_tables(self.tables) if self.tables else None

    def _convert(self) -> None:
        if not self._parts:
            return
        try:
            self.tables.append(_table(self._parts))
            self.msgs.extend(self._msgs)
            self.counts.extend(len(part[0]) for part in self._parts)
        except _VALUE_ERRORS:
            # A message holds a value of the wrong type: find it, set it aside, keep the others.
            for msg, part in zip(self._msgs, self._parts, strict=True):
                try:
                    self.tables.append(_table([part]))
                except _VALUE_ERRORS as exc:
                    self.bad.append((msg, exc))
                    continue
                self.msgs.append(msg)
                self.counts.append(len(part[0]))
        self._msgs, self._parts, self._rows = [], [], 0


class Loader:
    """Fetch a batch of messages, insert the events not stored yet into DuckDB, commit, then ack.

    JetStream is the loader's journal: a message stays in the stream until acknowledged, and it is
    acknowledged only after its events are committed, so the loader writes each event once (no
    journal record in between) and a replay after a crash is recognised by event id. The next batch
    is fetched and decoded while the previous one commits.
    """

    def __init__(
        self,
        js: JetStreamContext,
        writer: Writer,
        con: duckdb.DuckDBPyConnection,
        target_events: int = TARGET_EVENTS,
    ) -> None:
        self.js = js
        self.writer = writer
        self.con = store.cursor(con)  # this loader's own connection; its loads take the writer's lock
        self.target_events = target_events
        self.stats = LoaderStats()
        self._events_per_message = 1000.0  # at most (StreamSink.max_events) until measured: small first fetch
        self._measured = False
        self._stopping = asyncio.Event()
        self._pruned = 0.0

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        self.con.close()

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(
            durable_name=DURABLE,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_SECONDS,
            max_ack_pending=MAX_ACK_PENDING,
            deliver_policy=DeliverPolicy.ALL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                try:
                    await self.js.consumer_info(STREAM, DURABLE)
                except NotFoundError:
                    await self.js.add_consumer(STREAM, config)
                return await self.js.pull_subscribe_bind(DURABLE, STREAM)
            except (TimeoutError, nats.errors.Error) as exc:
                if time.monotonic() > deadline:
                    raise ConfigError(f"JetStream consumer {DURABLE} cannot be created: {exc!r}") from exc
                await asyncio.sleep(0.5)

    async def run(self) -> None:
        sub = await self.subscribe()
        committing: asyncio.Task[None] | None = None
        try:
            while not self._stopping.is_set():
                # Two batches at most are unacknowledged: the one committing and the one fetched meanwhile.
                want = max(1, min(MAX_ACK_PENDING // 2, int(self.target_events / self._events_per_message)))
                try:
                    msgs = await sub.fetch(want, timeout=1)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except nats.errors.Error as exc:
                    log.warning("fetch failed: %r", exc)
                    await asyncio.sleep(0.5)
                    continue
                batch = await self.decode(msgs)
                if committing is not None:
                    await _in_progress(batch.msgs, committing)
                committing = asyncio.create_task(self.commit(batch))
        finally:
            if committing is not None:
                await committing

    async def load(self, msgs: Sequence[Msg]) -> None:
        """Decode and commit one fetch (what run() does, without overlapping the next fetch)."""
        await self.commit(await self.decode(msgs))

    async def decode(self, msgs: Sequence[Msg]) -> Batch:
        tables = Tables()
        drops: list[Msg] = []
        for msg in msgs:
            if msg.subject == DROPS_SUBJECT:
                drops.append(msg)
                continue
            try:
                if msg.subject != EVENTS_SUBJECT:
                    raise BadMessage(f"unexpected subject {msg.subject}")
                tables.add(msg, decode(msg.data))
            except BadMessage as exc:
                await self._reject(msg, exc)
        table = tables.table()
        for msg, error in tables.bad:
            await self._reject(msg, BadMessage(f"values do not match the events schema: {error}"))
        # Off the event loop, while the previous batch commits (Arrow's kernels release the GIL).
        unique = await anyio.to_thread.run_sync(_unique, table) if table is not None else None
        if tables.msgs and table is not None:
            # Measured as soon as decoded, for the next fetch; the first measurement replaces the guess, so that
            # batches reach DuckDB's row group size from the second one on.
            measured = max(1.0, table.num_rows / len(tables.msgs))
            self._events_per_message += (0.2 if self._measured else 1.0) * (measured - self._events_per_message)
            self._measured = True
        return Batch(tables.msgs, tables.counts, table, drops, unique)

    async def _reject(self, msg: Msg, exc: Exception) -> None:
        # Unreadable by this version: never re-deliver it here (a newer loader may read it from a copy of the log).
        log.error("stream message %s skipped: %s", msg.metadata.sequence.stream, exc)
        with contextlib.suppress(nats.errors.Error):
            await msg.term()

    async def commit(self, batch: Batch) -> None:
        try:
            fresh = await _in_progress(batch.msgs, asyncio.ensure_future(anyio.to_thread.run_sync(self._commit, batch)))
        except duckdb.Error as exc:
            if len(batch.msgs) > 1 and isinstance(exc, _DATA_ERRORS):
                # One message's values are refused by DuckDB: commit message by message to find it.
                for one in _split(batch):
                    await self.commit(one)
                return
            if isinstance(exc, _DATA_ERRORS):
                await self._reject(batch.msgs[0], exc)
                return
            await self._retry_later(batch, exc)
            return
        except Exception as exc:
            await self._retry_later(batch, exc)
            return
        for msg in batch.msgs:
            with contextlib.suppress(nats.errors.Error):  # a lost ack means a replay, which is skipped
                await msg.ack()
        self.stats.batches += 1
        self.stats.messages += len(batch.msgs)
        self.stats.events += fresh
        self.stats.replayed += batch.total - fresh

    async def _retry_later(self, batch: Batch, exc: Exception) -> None:
        log.error("batch of %d messages not loaded; it will be delivered again: %r", len(batch.msgs), exc)
        for msg in batch.msgs:
            with contextlib.suppress(nats.errors.Error):
                await msg.nak(delay=1)
        await asyncio.sleep(1)

    def _commit(self, batch: Batch) -> int:
        with self.writer.db_lock:
            fresh = load_unseen(self.con, batch.unique, self.writer.hooks) if batch.unique is not None else 0
            for msg in batch.drops:
                self._add_drops(msg.data)
        return fresh

    def _add_drops(self, payload: bytes) -> None:
        try:
            data: dict[str, Any] = orjson.loads(payload)
            msg_id = str(data["id"])
            rows = [[str(s), str(d), str(r), int(n)] for s, d, r, n in data["d"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.error("drop counts skipped: %s", exc)
            return
        now = datetime.now(UTC).replace(tzinfo=None)
        cur = self.con
        cur.execute("BEGIN TRANSACTION")
        try:
            found = cur.execute(_DROPS_LOADED, [msg_id]).fetchone()
            if not found or not found[0]:
                cur.executemany(UPSERT_DROPS, rows)
                cur.execute(_MARK_DROPS, [msg_id, now])
            if time.monotonic() - self._pruned > 3600:
                cur.execute(_FORGET_DROPS, [now - timedelta(days=1)])
                self._pruned = time.monotonic()
            cur.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            raise


async def _in_progress(msgs: Sequence[Msg], work: asyncio.Future[T]) -> T:
    """Await the work, telling JetStream meanwhile that these messages are being worked on (a large batch on a
    busy machine may take longer than the ack wait, and JetStream would deliver them again)."""
    while True:
        done, _ = await asyncio.wait({work}, timeout=ACK_WAIT_SECONDS / 3)
        if done:
            return work.result()
        for msg in msgs:
            with contextlib.suppress(nats.errors.Error):
                await msg.in_progress()


def _table(parts: Sequence[Columns]) -> pa.Table:
    """The columns of several messages as one table (one Arrow array per column)."""
    if len(parts) == 1:
        return columns_to_table(parts[0])
    return columns_to_table([list(chain.from_iterable(part[i] for part in parts)) for i in range(len(SCHEMA))])


def _unique(table: pa.Table) -> pa.Table:
    """The table in one chunk per column (DuckDB inserts it ~40% faster than one chunk per message), without
    repeated event ids."""
    return first_occurrences(table.combine_chunks())


def _split(batch: Batch) -> list[Batch]:
    """One batch per message."""
    out: list[Batch] = []
    offset = 0
    for msg, count in zip(batch.events, batch.counts, strict=True):
        part = batch.table.slice(offset, count) if batch.table is not None else None
        out.append(Batch([msg], [count], part, [], _unique(part) if part is not None else None))
        offset += count
    out.extend(Batch([], [], None, [msg]) for msg in batch.drops)
    return out


def loader_feature(servers: Sequence[str]) -> Feature[Live]:
    """The stream consumer as a feature of the embedded collector: it runs while the server is up."""

    @contextlib.asynccontextmanager
    async def consume(settings: Settings, live: Live) -> AsyncIterator[None]:
        assert live.writer is not None and live.runtime is not None
        nc = await connect(servers, name="collector-loader")
        try:
            js = nc.jetstream(timeout=5)
            await ensure_stream(js, settings.stream_replicas)
            loader = Loader(js, live.writer, live.runtime.con)
            task = asyncio.create_task(loader.run())
            log.info("loader consuming", extra={"nats": list(servers), "stream": STREAM})
            try:
                yield
            finally:
                loader.stop()
                await task
                loader.close()
                log.info("loader stopped", extra={"events": loader.stats.events, "replayed": loader.stats.replayed})
        finally:
            await close_quietly(nc)

    return Feature("scale-out loader", lifespan=consume)


def run_load(settings: Settings, source: str, sock: socket.socket | None = None) -> int:
    """The loader node: the embedded collector (DuckDB, read APIs, admin socket) plus the stream consumer.
    A source where no NATS server answers is refused before the data directory is opened."""
    try:
        servers = parse_servers(source)
        check_servers(servers)
    except ConfigError as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 2
    return serve(settings, [loader_feature(servers)], sock)
