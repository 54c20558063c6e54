"""`collector serve --sink nats://...`: an ingest-only node with no database.

It runs the same parsing and pipeline as the embedded collector and publishes accepted events to
JetStream. The daily salt comes from JetStream's key-value store, so every node hashes a cookieless
visitor alike; the pepper comes from the key file or COLLECTOR_PEPPER, as on every node, and never
enters NATS or the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import anyio.to_thread
import nats.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError
from nats.js.kv import KeyValue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from collector.devices import hardware
from collector.devices.detect import Detector
from collector.devices.detect import warm as warm_devices
from collector.durable.commits import WriteFailed
from collector.durable.counts import Tally
from collector.durable.wire import RawRequest, Refusal
from collector.heap import freeze_long_lived
from collector.http.asgi import App, Direct, respond_json
from collector.http.doors import door_routes
from collector.http.ingest import Ingest
from collector.http.pages import demo_page, snippet_response
from collector.http.runner import run_app
from collector.http.snippet import load_snippet
from collector.identifiers.keys import KeyFileError, load_keys
from collector.identifiers.salts import SaltCache
from collector.ingest.accept import Acceptor
from collector.ingest.pipeline.steps import Detect, build_pipeline
from collector.ingest.ratelimit import RateLimits
from collector.logs import configure_logging
from collector.scaleout.stream import StreamSink, check_servers, close_quietly, connect, ensure_stream, parse_servers
from collector.settings import ConfigError, Settings

log = logging.getLogger("collector.ingestnode")
T = TypeVar("T")
SALT_BUCKET = "collector_salts"
SALT_ROTATION_SECONDS = 60.0
DROPS_EVERY_SECONDS = 1.0


def load_pepper(settings: Settings, env: dict[str, str] | None = None) -> bytes:
    """The pepper every node shares; an ingest node never makes one up (that would split consented visitors)."""
    env = dict(os.environ) if env is None else env
    if env.get("COLLECTOR_PEPPER") and not env.get("COLLECTOR_DATABASE_KEY"):
        env["COLLECTOR_DATABASE_KEY"] = "unused"  # an ingest node opens no database
    return load_keys(settings.key_path, env, create=False).pepper


async def salt_bucket(js: JetStreamContext, replicas: int, grace_hours: int) -> KeyValue:
    """The salts bucket; its TTL destroys a salt everywhere even if no node is left to rotate it."""
    try:
        return await js.key_value(SALT_BUCKET)
    except BucketNotFoundError:
        pass
    ttl = timedelta(days=2, hours=grace_hours).total_seconds()
    config = KeyValueConfig(bucket=SALT_BUCKET, history=1, ttl=ttl, storage=StorageType.FILE, replicas=replicas)
    return await js.create_key_value(config)


class InProcess:
    """The pipeline on the event loop, in front of the stream: an ingest node's backend (http/ingest.py)."""

    def __init__(self, acceptor: Acceptor, sink: StreamSink) -> None:
        self.acceptor = acceptor
        self.sink = sink
        self.accepted = 0

    @property
    def tally(self) -> Tally:
        return self.acceptor.tally(self.accepted)

    async def submit(self, request: RawRequest) -> Refusal | None:
        verdict = self.acceptor.accept(*request)
        if verdict.refused is None and verdict.events:
            await self.sink.write(verdict.events)
            self.accepted += len(verdict.events)
        return verdict.refused


class KVSalts(SaltCache):
    """Daily salts shared through JetStream KV: `salt_for(day)` for the pipeline, `rotate()` every minute."""

    def __init__(self, kv: KeyValue, grace_hours: int = 2) -> None:
        super().__init__(grace_hours)
        self.kv = kv

    async def rotate(self, now: datetime | None = None) -> list[date]:
        """Agree on today's and tomorrow's salts (the first node to create one wins), destroy expired ones."""
        now = now or datetime.now(UTC)
        today = now.date()
        keep_from = (now - self.grace).date()
        salts = {day: salt for day, salt in self._salts.items() if day >= keep_from}
        for day in {today, today + timedelta(days=1), *salts}:
            key = day.isoformat()
            try:
                salts[day] = (await self.kv.get(key)).value or b""
            except KeyNotFoundError:
                try:
                    candidate = salts.get(day) or secrets.token_bytes(32)
                    await self.kv.create(key, candidate)
                    salts[day] = candidate
                except KeyWrongLastSequenceError:
                    salts[day] = (await self.kv.get(key)).value or b""
        destroyed = []
        try:
            keys = await self.kv.keys()
        except NoKeysError:
            keys = []
        for key in keys:
            day = date.fromisoformat(key)
            if day < keep_from:
                await self.kv.purge(key)
                destroyed.append(day)
        with self._lock:
            self._salts = {day: salt for day, salt in salts.items() if day >= keep_from and salt}
        return destroyed


def create_ingest_app(settings: Settings, pepper: bytes, *, detector: Detect | None = None) -> App:
    """The ingest node as an ASGI app: the beacon endpoint, the snippet and a health check; no read APIs."""
    servers = parse_servers(settings.sink)
    snippet = load_snippet()
    state: dict[str, object] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nc = await connect(servers, name="collector-ingest")
        try:
            js = nc.jetstream(timeout=5)
            await ensure_stream(js, settings.stream_replicas)
            salts = KVSalts(await _retry(lambda: salt_bucket(js, settings.stream_replicas, settings.salt_grace_hours)))
            await _retry(salts.rotate)
        except BaseException:
            await close_quietly(nc)
            raise
        devices = Detector()
        await anyio.to_thread.run_sync(warm_devices)
        sink = StreamSink(js)
        pipeline = build_pipeline(settings, pepper, salts, detector or devices.detect)
        acceptor = Acceptor(settings, pipeline, RateLimits(settings), sink.count_drop, devices)
        ingest = Ingest(settings, InProcess(acceptor, sink))
        state.update(ingest=ingest, sink=sink)
        tasks = [asyncio.create_task(_rotate(salts)), asyncio.create_task(_send_drops(sink))]
        freeze_long_lived()
        log.info("ingest node ready", extra={"nats": servers, "sites": [s.domain for s in settings.sites]})
        try:
            yield
        finally:
            await ingest.close()
            await sink.drain()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await sink.publish_drops(str(uuid.uuid4()))
            await close_quietly(nc)
            log.info("ingest node stopped", extra={"events": sink.published_events})

    async def event(scope: Scope, receive: Receive, send: Send) -> None:
        ingest = state.get("ingest")
        if not isinstance(ingest, Ingest):
            await respond_json(send, 503, {"error": "the ingest node is starting or stopping", "field": None})
            return
        await ingest(scope, receive, send)

    async def healthz(request: Request) -> Response:
        sink = state.get("sink")
        if not isinstance(sink, StreamSink):
            return JSONResponse({"status": "starting"}, 503)
        try:
            await asyncio.wait_for(sink.ping(), timeout=5)
        except (WriteFailed, TimeoutError) as exc:
            return JSONResponse({"status": "stream not writable", "error": str(exc)}, 503)
        rules = "complete" if hardware.complete() else "building"  # brand rules; models load on first sight
        return JSONResponse({"status": "ok", "role": "ingest", "queue": sink.queue_depth, "device_rules": rules})

    async def index(request: Request) -> Response:
        return demo_page(request, settings.sites[0].domain)

    async def script(request: Request) -> Response:
        return snippet_response(request, snippet)

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/js/collector.js", script, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]

    def up() -> Ingest | None:
        ingest = state.get("ingest")
        return ingest if isinstance(ingest, Ingest) else None

    direct = [Direct("/api/event", frozenset({"POST", "OPTIONS"}), event), *door_routes(up)]
    return App(direct=direct, routes=routes, lifespan=lifespan)


async def _retry(make: Callable[[], Awaitable[T]], wait_seconds: float = 30.0) -> T:
    """Retry while a fresh cluster elects its JetStream leaders."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return await make()
        except (TimeoutError, nats.errors.Error) as exc:
            if time.monotonic() > deadline:
                raise ConfigError(f"JetStream key-value store is not available: {exc!r}") from exc
            await asyncio.sleep(0.5)


async def _rotate(salts: KVSalts) -> None:
    while True:
        await asyncio.sleep(SALT_ROTATION_SECONDS)
        try:
            await salts.rotate()
        except Exception:
            log.exception("salt rotation failed")


async def _send_drops(sink: StreamSink) -> None:
    while True:
        await asyncio.sleep(DROPS_EVERY_SECONDS)
        try:
            await sink.publish_drops(str(uuid.uuid4()))
        except Exception as exc:
            log.warning("drop counts not published yet: %s", exc)


def serve_ingest(settings: Settings, sock: socket.socket | None = None) -> int:
    """The ingest node under uvicorn; 2, before it listens, without the pepper or a NATS server that answers."""
    configure_logging(settings.log_level)
    try:
        pepper = load_pepper(settings)
        check_servers(parse_servers(settings.sink))
    except (ConfigError, KeyFileError) as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 2
    return run_app(settings, create_ingest_app(settings, pepper), sock)
