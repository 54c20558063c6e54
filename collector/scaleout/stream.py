"""The scale-out log: a replicated NATS JetStream stream between stateless ingest nodes and one loader.

Ingest nodes publish accepted events (only the stored columns, never the request's IP or User-Agent)
and answer 202 once JetStream has acknowledged them; the loader consumes the stream into DuckDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import Counter, deque
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any, cast
from urllib.parse import urlsplit

import nats
import nats.errors
import orjson
import pyarrow as pa
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from collector.durable.commits import WriteFailed, settle
from collector.events import DropReason, Event
from collector.settings import ConfigError
from collector.storage.rows import SCHEMA, to_row

log = logging.getLogger("collector.stream")

STREAM = "COLLECTOR"
EVENTS_SUBJECT = "collector.events"
DROPS_SUBJECT = "collector.drops"
DUPLICATE_WINDOW_SECONDS = 120.0
PUBLISH_TIMEOUT_SECONDS = 8.0
# Message formats: 1 {"v": 1, "e": [row, ...]}; 2 {"v": 2, "c": [column, ...]}; 3 an Arrow IPC stream. The
# loader reads all three, so it is upgraded first; ingest nodes send 3, or 2 for a group of few events.
ARROW_MIN_EVENTS = 64
_IPC_CONTINUATION = b"\xff\xff\xff\xff"
_IPC_SCHEMA = SCHEMA.serialize().to_pybytes()  # an IPC stream: this, record batch messages, then the end marker
_IPC_END = _IPC_CONTINUATION + b"\x00\x00\x00\x00"
_SAME_TYPE = [
    (kind, [i for i, f in enumerate(SCHEMA) if f.type == kind]) for kind in dict.fromkeys(f.type for f in SCHEMA)
]
CONNECT_WAIT_SECONDS = 30.0


def parse_servers(url: str) -> list[str]:
    """`nats://a:4222,b:4222` or `nats://a:4222,nats://b:4222` -> one URL per server."""
    servers = []
    for part in url.split(","):
        part = part.strip()
        if not part:
            continue
        if "://" not in part:
            part = "nats://" + part
        parts = urlsplit(part)
        if parts.scheme not in ("nats", "tls") or not parts.hostname:
            raise ConfigError(f"{part!r} is not a NATS server URL like nats://127.0.0.1:4222")
        servers.append(part)
    if not servers:
        raise ConfigError("no NATS server given (expected nats://host:4222[,host:4222...])")
    return servers


async def connect(servers: Sequence[str], name: str) -> Client:
    """Connect to the first server that answers; reconnect for ever (to any server of the cluster)."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats: %s", exc)

    async def on_disconnect() -> None:
        log.warning("nats: disconnected")

    async def on_reconnect() -> None:
        log.info("nats: reconnected")

    connecting = nats.connect(
        servers=list(servers),
        name=name,
        connect_timeout=2,
        reconnect_time_wait=0.25,
        max_reconnect_attempts=-1,
        allow_reconnect=True,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )
    try:
        return await asyncio.wait_for(connecting, CONNECT_WAIT_SECONDS)
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        raise ConfigError(f"no NATS server answers at {', '.join(servers)}: {exc!r}") from None


PROBE_SECONDS = 2.0


def check_servers(servers: Sequence[str], timeout: float = PROBE_SECONDS) -> None:
    """Fail fast, before anything starts, when no server of the list answers as a NATS server does (an INFO
    line); ConfigError names every server tried and why each failed."""
    failures = []
    for server in servers:
        parts = urlsplit(server)
        address = (parts.hostname or "", parts.port or 4222)
        try:
            with socket.create_connection(address, timeout=timeout) as sock:
                sock.settimeout(timeout)
                if sock.recv(5) == b"INFO ":
                    return
                failures.append(f"{server} (not a NATS server)")
        except OSError as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc)).lower()
            failures.append(f"{server} ({reason})")
    raise ConfigError(f"no NATS server answers; tried {', '.join(failures)}")


async def ensure_stream(js: JetStreamContext, replicas: int, wait_seconds: float = 30.0) -> None:
    """Create the work-queue stream if it does not exist; retry while a fresh cluster elects its leaders."""
    config = StreamConfig(
        name=STREAM,
        subjects=[EVENTS_SUBJECT, DROPS_SUBJECT],
        retention=RetentionPolicy.WORK_QUEUE,  # a loaded message is deleted: the log holds only the backlog
        storage=StorageType.FILE,
        num_replicas=replicas,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    )
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            try:
                info = await js.stream_info(STREAM)
            except NotFoundError:
                await js.add_stream(config)
                log.info("stream created", extra={"stream": STREAM, "replicas": replicas})
                return
            if info.config.num_replicas != replicas:
                log.warning(
                    "stream has another replica count than configured",
                    extra={"stream": STREAM, "replicas": info.config.num_replicas, "configured": replicas},
                )
            return
        except nats.errors.Error as exc:
            if time.monotonic() > deadline:
                raise ConfigError(f"stream {STREAM} cannot be created with {replicas} replicas: {exc}") from exc
            await asyncio.sleep(0.5)


def encode(events: Sequence[Event]) -> bytes:
    """What an ingest node publishes: Arrow (format 3) for a large group, JSON columns (format 2) for a small one.

    The one loader turns Arrow into its table without parsing anything, so the work is done on the ingest nodes,
    which scale out. Building Arrow arrays costs a fixed ~150 us per message, though, which a message of a few
    events (a quiet site, or one event per request) would pay per event; there JSON is cheaper on both sides.
    """
    return encode_arrow(events) if len(events) >= ARROW_MIN_EVENTS else encode_json(events)


def encode_json(events: Sequence[Event]) -> bytes:
    """Format 2: the stored columns of the events (the writer's rows, transposed); the request's IP and User-Agent
    are not among them."""
    return orjson.dumps({"v": 2, "c": list(zip(*map(to_row, events), strict=True))})


def encode_arrow(events: Sequence[Event]) -> bytes:
    """Format 3: the same columns as one Arrow IPC stream (schema, then one record batch)."""
    columns = list(zip(*map(to_row, events), strict=True))
    count = len(events)
    arrays: list[pa.Array] = [pa.nulls(0)] * len(SCHEMA)
    # Each pa.array() call costs ~5 us whatever its length: one per type (22 string columns share one), then sliced.
    for kind, indexes in _SAME_TYPE:
        values = pa.array(list(chain.from_iterable(columns[i] for i in indexes)), type=kind)
        for n, i in enumerate(indexes):
            arrays[i] = values.slice(n * count, count)
    batch = pa.RecordBatch.from_arrays(arrays, schema=SCHEMA).serialize().to_pybytes()
    return b"".join((_IPC_SCHEMA, batch, _IPC_END))


class BadMessage(Exception):
    """A stream message this version cannot read."""


Columns = list[list[Any]]


def decode(payload: bytes) -> Columns | pa.Table:
    """Format 3 as an Arrow table; formats 2 and 1 (rows, from older ingest nodes) as one list per SCHEMA column."""
    if payload.startswith(_IPC_CONTINUATION):
        return _decode_arrow(payload)
    try:
        data = orjson.loads(payload)
        version = data.get("v")
        if version == 2:
            columns = data["c"]
        elif version == 1:
            rows = data["e"]
            if not isinstance(rows, list) or any(not isinstance(r, list) or len(r) != len(SCHEMA) for r in rows):
                raise BadMessage("rows do not match the events schema")
            columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in SCHEMA]
        else:
            raise BadMessage(f"unknown message format {version!r}")
    except (orjson.JSONDecodeError, AttributeError, KeyError) as exc:
        raise BadMessage(str(exc)) from None
    if (
        not isinstance(columns, list)
        or len(columns) != len(SCHEMA)
        or any(not isinstance(c, list) or len(c) != len(columns[0]) for c in columns)
    ):
        raise BadMessage("columns do not match the events schema")
    return cast(Columns, columns)


def _decode_arrow(payload: bytes) -> pa.Table:
    try:
        table = pa.ipc.open_stream(payload).read_all()
        if not table.schema.equals(SCHEMA):
            # A newer ingest node may add columns or widen a type: take this version's columns, as its types.
            table = table.select(SCHEMA.names).cast(SCHEMA)
    except (pa.ArrowException, OSError, KeyError, ValueError, TypeError) as exc:  # a short message is an OSError
        raise BadMessage(f"not an events table: {exc}") from None
    return table


class StreamSink:
    """The ingest node's sink: group-publish what handlers queued, resolve them once JetStream acknowledged.

    Events queued while earlier publishes are in flight go out together in the next message, so under
    load one publish (and one replicated append) carries many requests' events.
    """

    def __init__(self, js: JetStreamContext, max_events: int = 1000, max_inflight: int = 4) -> None:
        self.js = js
        self.max_events = max_events
        self.max_inflight = max_inflight
        self.published_events = 0
        self.published_messages = 0
        self._pending: deque[tuple[Sequence[Event], asyncio.Future[None]]] = deque()
        self._inflight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._drops: Counter[tuple[str, str, str]] = Counter()
        self._closed = False

    def start(self) -> None:
        pass

    @property
    def queue_depth(self) -> int:
        return sum(len(events) for events, _ in self._pending)

    async def write(self, events: Sequence[Event]) -> None:
        if self._closed:
            raise WriteFailed("the node is shutting down")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((events, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        await future

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending and self._inflight < self.max_inflight:
            items: list[tuple[Sequence[Event], asyncio.Future[None]]] = []
            count = 0
            while self._pending and (not items or count + len(self._pending[0][0]) <= self.max_events):
                item = self._pending.popleft()
                items.append(item)
                count += len(item[0])
            self._inflight += 1
            task = asyncio.get_running_loop().create_task(self._publish(items))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _publish(self, items: list[tuple[Sequence[Event], asyncio.Future[None]]]) -> None:
        events = [e for batch, _ in items for e in batch]
        error: Exception | None = None
        try:
            # The first event's id names the message, so a retry after a lost ack is de-duplicated by JetStream.
            await publish(self.js, EVENTS_SUBJECT, encode(events), events[0].event_id)
            self.published_events += len(events)
            self.published_messages += 1
        except Exception as exc:
            error = exc
            log.error("events not published: %s", exc)
        finally:
            self._inflight -= 1
        settle([future for _, future in items], error)
        self._flush()

    def count_drop(self, site: str, reason: DropReason) -> None:
        self._drops[(site, datetime.now(UTC).date().isoformat(), reason.value)] += 1

    async def publish_drops(self, msg_id: str) -> None:
        """Send the drop counts gathered so far; kept for the next try if JetStream does not acknowledge."""
        if not self._drops:
            return
        drops, self._drops = self._drops, Counter()
        payload = orjson.dumps({"v": 2, "id": msg_id, "d": [[s, d, r, n] for (s, d, r), n in drops.items()]})
        try:
            await publish(self.js, DROPS_SUBJECT, payload, msg_id)
        except Exception:
            self._drops.update(drops)
            raise

    async def ping(self) -> None:
        try:
            await self.js.stream_info(STREAM)
        except nats.errors.Error as exc:
            raise WriteFailed(f"JetStream does not answer: {exc!r}") from None

    async def drain(self) -> None:
        """Stop taking events and wait for the publishes in flight."""
        self._closed = True
        while self._tasks or self._pending:
            if self._pending and not self._scheduled:
                self._flush()
            await asyncio.sleep(0.01)

    def close(self) -> None:
        self._closed = True


async def publish(js: JetStreamContext, subject: str, payload: bytes, msg_id: str) -> None:
    """Publish until JetStream acknowledges (retrying through a leader election), or fail after a deadline."""
    deadline = time.monotonic() + PUBLISH_TIMEOUT_SECONDS
    delay = 0.05
    while True:
        remaining = deadline - time.monotonic()
        try:
            await js.publish(subject, payload, timeout=max(0.5, min(2.0, remaining)), headers={"Nats-Msg-Id": msg_id})
            return
        except (TimeoutError, nats.errors.Error) as exc:
            if time.monotonic() + delay >= deadline:
                raise WriteFailed(f"JetStream did not acknowledge: {exc!r}") from None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


async def close_quietly(nc: Client) -> None:
    """Flush what is buffered (acks) and close; every publish that mattered was already acknowledged."""
    with contextlib.suppress(Exception):
        await nc.flush(timeout=2)
    with contextlib.suppress(Exception):
        await nc.close()
