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
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import duckdb
import nats.errors
import orjson
import pyarrow as pa
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from collector import store
from collector.app import Live, Service, create_app
from collector.keys import KeyFileError
from collector.logs import configure_logging
from collector.runtime import open_runtime
from collector.server import run_app
from collector.settings import ConfigError, Settings
from collector.store import StoreError
from collector.stream import (
    DROPS_SUBJECT,
    EVENTS_SUBJECT,
    STREAM,
    BadMessage,
    Columns,
    close_quietly,
    connect,
    decode,
    ensure_stream,
    parse_servers,
)
from collector.writer import UPSERT_DROPS, Writer, columns_to_table, load_new

log = logging.getLogger("collector.loader")
DURABLE = "collector-loader"
ACK_WAIT_SECONDS = 10.0
MAX_ACK_PENDING = 2000
_DROPS_LOADED = "SELECT count(*) FROM loaded_drops WHERE msg_id = ?"
_MARK_DROPS = "INSERT INTO loaded_drops VALUES (?, ?)"
_FORGET_DROPS = "DELETE FROM loaded_drops WHERE loaded_at < ?"
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
    table: pa.Table | None
    drops: list[Msg]
    total: int = 0

    @property
    def msgs(self) -> list[Msg]:
        return self.events + self.drops


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
        target_events: int = 20_000,
    ) -> None:
        self.js = js
        self.writer = writer
        self.con = store.cursor(con)  # this loader's own connection; its loads take the writer's lock
        self.target_events = target_events
        self.stats = LoaderStats()
        self._events_per_message = 50.0
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
                    await committing
                committing = asyncio.create_task(self.commit(batch))
        finally:
            if committing is not None:
                await committing

    async def load(self, msgs: Sequence[Msg]) -> None:
        """Decode and commit one fetch (what run() does, without overlapping the next fetch)."""
        await self.commit(await self.decode(msgs))

    async def decode(self, msgs: Sequence[Msg]) -> Batch:
        batch = Batch([], None, [])
        parts: list[Columns] = []
        for msg in msgs:
            if msg.subject == DROPS_SUBJECT:
                batch.drops.append(msg)
                continue
            try:
                columns = decode(msg.data)
                if msg.subject != EVENTS_SUBJECT:
                    raise BadMessage(f"unexpected subject {msg.subject}")
            except BadMessage as exc:
                await self._reject(msg, exc)
                continue
            batch.events.append(msg)
            parts.append(columns)
        try:
            batch.table = _table(parts)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            # Some message holds a value of the wrong type: find it, set it aside, load the others.
            good: list[Msg] = []
            tables = []
            for msg, columns in zip(batch.events, parts, strict=True):
                try:
                    tables.append(_table([columns]))
                    good.append(msg)
                except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
                    await self._reject(msg, BadMessage(f"values do not match the events schema: {exc}"))
            batch.events = good
            batch.table = pa.concat_tables(tables) if tables else None
        batch.total = batch.table.num_rows if batch.table is not None else 0
        return batch

    async def _reject(self, msg: Msg, exc: Exception) -> None:
        # Unreadable by this version: never re-deliver it here (a newer loader may read it from a copy of the log).
        log.error("stream message %s skipped: %s", msg.metadata.sequence.stream, exc)
        with contextlib.suppress(nats.errors.Error):
            await msg.term()

    async def commit(self, batch: Batch) -> None:
        try:
            fresh = await anyio.to_thread.run_sync(self._commit, batch)
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
        if batch.events:
            self._events_per_message = 0.8 * self._events_per_message + 0.2 * max(1.0, batch.total / len(batch.events))
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
            fresh = load_new(self.con, batch.table, self.writer.hooks) if batch.table is not None else 0
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


def _table(parts: Sequence[Columns]) -> pa.Table | None:
    """The columns of several messages as one table (one Arrow array per column for the whole batch)."""
    if not parts:
        return None
    if len(parts) == 1:
        return columns_to_table(parts[0])
    return columns_to_table([[v for part in parts for v in part[i]] for i in range(len(parts[0]))])


def _split(batch: Batch) -> list[Batch]:
    """One batch per message; the drop counts go with the first."""
    table = batch.table
    out: list[Batch] = []
    offset = 0
    for msg in batch.events:
        count = len(decode(msg.data)[0])
        part = table.slice(offset, count) if table is not None else None
        out.append(Batch([msg], part, [], count))
        offset += count
    out.extend(Batch([], None, [msg]) for msg in batch.drops)
    return out


def loader_service(servers: Sequence[str], settings: Settings) -> Service:
    @contextlib.asynccontextmanager
    async def service(live: Live) -> AsyncIterator[None]:
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

    return service


def run_load(settings: Settings, source: str) -> int:
    """The loader node: the embedded collector (DuckDB, read APIs, admin socket) plus the stream consumer."""
    configure_logging(settings.log_level)
    try:
        servers = parse_servers(source)
        runtime = open_runtime(settings)
    except (ConfigError, KeyFileError, StoreError) as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 2
    return run_app(settings, create_app(runtime=runtime, services=[loader_service(servers, settings)]))
