"""`collector load --source nats://...`: consume the stream into DuckDB, acknowledging only after the commit.

The loader is the collector that owns the DuckDB file (so the read APIs and CLI operations run here)
plus a durable JetStream consumer feeding the same group-commit writer. A message is acknowledged
only once its events are committed; a crash in between replays it, and the replay is recognised by
event id (already in `events` within the batch's time range) and skipped.
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
    close_quietly,
    connect,
    decode,
    ensure_stream,
    parse_servers,
)
from collector.writer import UPSERT_DROPS, Row, WriteFailed, Writer

log = logging.getLogger("collector.loader")
_EPOCH = datetime(1970, 1, 1)
DURABLE = "collector-loader"
ACK_WAIT_SECONDS = 10.0
MAX_ACK_PENDING = 2000
_SEEN = (
    "SELECT event_id::VARCHAR FROM events WHERE ts BETWEEN ? AND ? AND event_id IN (SELECT id::UUID FROM _batch_ids)"
)
_DROPS_LOADED = "SELECT count(*) FROM loaded_drops WHERE msg_id = ?"
_MARK_DROPS = "INSERT INTO loaded_drops VALUES (?, ?)"
_FORGET_DROPS = "DELETE FROM loaded_drops WHERE loaded_at < ?"


@dataclass(slots=True)
class LoaderStats:
    messages: int = 0
    events: int = 0
    replayed: int = 0
    batches: int = 0


class Loader:
    """Fetch a batch of messages, drop events already stored, commit the rest through the writer, then ack."""

    def __init__(
        self,
        js: JetStreamContext,
        writer: Writer,
        con: duckdb.DuckDBPyConnection,
        target_events: int = 20_000,
    ) -> None:
        self.js = js
        self.writer = writer
        self.con = con
        self.target_events = target_events
        self.stats = LoaderStats()
        self._events_per_message = 50.0
        self._stopping = asyncio.Event()
        self._pruned = 0.0

    def stop(self) -> None:
        self._stopping.set()

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
        while not self._stopping.is_set():
            want = max(1, min(MAX_ACK_PENDING // 2, int(self.target_events / self._events_per_message)))
            try:
                msgs = await sub.fetch(want, timeout=1)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except nats.errors.Error as exc:
                log.warning("fetch failed: %r", exc)
                await asyncio.sleep(0.5)
                continue
            try:
                await self.load(msgs)
            except Exception:
                log.exception("batch of %d messages not loaded; it will be delivered again", len(msgs))
                await asyncio.sleep(1)

    async def load(self, msgs: Sequence[Msg]) -> None:
        by_id: dict[str, Row] = {}
        drops: list[Msg] = []
        done: list[Msg] = []
        total = 0
        for msg in msgs:
            if msg.subject == DROPS_SUBJECT:
                drops.append(msg)
                continue
            try:
                rows = decode(msg.data)
            except BadMessage as exc:
                # Unreadable by this version: keep it in the stream for a newer loader, never re-deliver here.
                log.error("stream message %s skipped: %s", msg.metadata.sequence.stream, exc)
                await msg.term()
                continue
            if msg.subject == EVENTS_SUBJECT:
                total += len(rows)
                for row in rows:
                    by_id.setdefault(row[0], row)
            done.append(msg)
        fresh = list(by_id.values())
        if fresh:
            # What the writer journaled earlier must be in DuckDB before we look for these ids there.
            synced = await anyio.to_thread.run_sync(self.writer.sync)
            if not synced or self.writer.load_error is not None:
                for msg in done:
                    with contextlib.suppress(nats.errors.Error):
                        await msg.nak(delay=1)
                raise WriteFailed(f"the writer is not loading into DuckDB: {self.writer.load_error}")
            seen = await anyio.to_thread.run_sync(self._seen, fresh)
            if seen:
                fresh = [r for r in fresh if r[0] not in seen]
            try:
                await self.writer.write_rows(fresh)
            except WriteFailed:
                for msg in done:
                    with contextlib.suppress(nats.errors.Error):
                        await msg.nak(delay=1)
                raise
        for msg in drops:
            await anyio.to_thread.run_sync(self._add_drops, msg.data)
            done.append(msg)
        for msg in done:
            with contextlib.suppress(nats.errors.Error):  # a lost ack means a replay, which is skipped
                await msg.ack()
        messages = len(msgs) - len(drops)
        if messages:
            self._events_per_message = 0.8 * self._events_per_message + 0.2 * max(1.0, total / messages)
        self.stats.batches += 1
        self.stats.messages += len(msgs)
        self.stats.events += len(fresh)
        self.stats.replayed += total - len(fresh)

    def _seen(self, rows: Sequence[Row]) -> set[str]:
        """Ids of these rows already in `events`; only their time range is scanned."""
        micros = [r[1] for r in rows]
        low, high = _EPOCH + timedelta(microseconds=min(micros)), _EPOCH + timedelta(microseconds=max(micros))
        cur = store.cursor(self.con)
        try:
            cur.register("_batch_ids", pa.table({"id": pa.array([r[0] for r in rows], pa.string())}))
            return {row[0] for row in cur.execute(_SEEN, [low, high]).fetchall()}
        finally:
            cur.close()

    def _add_drops(self, payload: bytes) -> None:
        try:
            data: dict[str, Any] = orjson.loads(payload)
            msg_id = str(data["id"])
            rows = [[str(s), str(d), str(r), int(n)] for s, d, r, n in data["d"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.error("drop counts skipped: %s", exc)
            return
        now = datetime.now(UTC).replace(tzinfo=None)
        cur = store.cursor(self.con)
        try:
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
        finally:
            cur.close()


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
