"""Scale-out through NATS JetStream: real nats-server processes, real collector processes, kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats.errors
import orjson
import pytest
import uvicorn
from nats.js.errors import KeyNotFoundError

from collector.durable.journal import Sealer
from collector.durable.writer import Writer
from collector.events import Event, Request
from collector.http.runtime import Runtime, open_journal, open_runtime
from collector.ingest.parsing import build_event, new_event_id
from collector.scaleout.loader import Loader
from collector.scaleout.node import KVSalts, create_ingest_app, salt_bucket, serve_ingest
from collector.scaleout.stream import (
    StreamSink,
    close_quietly,
    connect,
    decode,
    encode,
    encode_arrow,
    encode_json,
    ensure_stream,
    publish,
)
from collector.segments.profiles import update_profiles
from collector.storage import store
from collector.storage.rows import SCHEMA, to_row
from tests.clusterlib import ORIGIN, UA, Cluster, Load, nats_server, wait_http
from tests.conftest import make_settings
from tests.integration.durable.rows_handler import Rows


def need_nats() -> None:
    if nats_server() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nats-server is not installed: CI must `apt-get install -y nats-server`")
        pytest.skip("nats-server is not installed (apt-get install nats-server)")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    need_nats()
    # One address and agent play thousands of visitors here, so the per-client limit must not bite.
    c = Cluster(tmp_path / "cluster", config="rate_limit_client_per_second = 0\nrate_limit_site_per_second = 0\n")
    try:
        yield c
    except BaseException:
        print(c.logs())
        raise
    finally:
        c.close()


@pytest.fixture
def one_nats(tmp_path: Path) -> Iterator[Cluster]:
    """A single JetStream server (stream replicas 1) for in-process tests."""
    need_nats()
    c = Cluster(tmp_path / "nats", nats_nodes=1, replicas=1)
    try:
        c.start_nats()
        yield c
    finally:
        c.close()


def test_acknowledged_events_are_stored_exactly_once_through_nats_ingest_and_loader_kills(cluster: Cluster) -> None:
    started = time.monotonic()
    cluster.start_all()
    print(f"cluster up in {time.monotonic() - started:.1f} s")
    phases: dict[str, float] = {}

    async def scenario() -> Load:
        load = Load(batch=10)
        task = asyncio.create_task(load.run(cluster.ingest_ports, connections=2))
        await asyncio.sleep(2)
        leader = await asyncio.to_thread(cluster.stream_leader)
        cluster.nats[leader].kill()  # the stream's leader: JetStream must elect another one under load
        phases["nats killed"] = time.monotonic()
        await asyncio.sleep(2)
        await asyncio.to_thread(cluster.start_nats, leader)
        await asyncio.sleep(1)
        # Both collectors come back while the load goes on; their start-up (device rules) takes seconds.
        cluster.ingest[0].kill()
        cluster.ingest[0].start()
        await asyncio.sleep(1)
        assert cluster.loader is not None
        cluster.loader.kill()
        cluster.loader.start()
        await asyncio.to_thread(wait_http, f"{cluster.ingest_url(0)}/healthz", cluster.ingest[0], 60)
        await asyncio.to_thread(wait_http, f"{cluster.loader_url}/healthz", cluster.loader, 60)
        phases["restarted"] = time.monotonic()
        await asyncio.sleep(1.5)
        load.stop()
        await task
        return load

    load = asyncio.run(scenario())
    # Drops counted on an ingest node reach the loader's `drops` table too.
    for _ in range(3):
        r = httpx.post(
            f"{cluster.ingest_url(1)}/api/event",
            content='{"d":"example.com","u":"https://example.com/prefetched"}',
            headers={"Origin": ORIGIN, "User-Agent": UA, "Sec-Purpose": "prefetch", "Content-Type": "text/plain"},
        )
        assert r.status_code == 202
    started = time.monotonic()
    cluster.wait_drained(timeout=40)
    print(f"drained in {time.monotonic() - started:.1f} s; statuses {load.statuses}, connection errors {load.errors}")

    def acked_after(name: str) -> int:
        return sum(1 for t in load.ack_times if t > phases[name])

    # Load went on through every fault (the other ingest node keeps answering while one is down).
    assert acked_after("nats killed") > 0 and acked_after("restarted") > 0
    assert any(p.startswith("/t/0-") for p in load.acked_since(phases["restarted"])), "the restarted node answers"
    assert len(load.acked) > 2000, load.statuses

    assert cluster.loader is not None
    assert cluster.loader.stop() in (0, -signal.SIGTERM), cluster.tail_loader()  # uvicorn re-raises SIGTERM
    for proc in cluster.ingest:
        proc.stop()
    rows = cluster.query("SELECT path, count(*) FROM events WHERE path LIKE '/t/%' GROUP BY path")
    stored = {path: n for path, n in rows}
    assert load.acked - stored.keys() == set(), "an event that got a 202 is missing"
    assert [p for p, n in stored.items() if n > 1] == [], "an event is stored twice"
    assert stored.keys() <= load.sent
    assert cluster.query("SELECT count(*) = count(DISTINCT event_id) FROM events") == [(True,)]
    counts = cluster.query("SELECT sum(events) FROM daily_counts WHERE site = 'example.com' AND name = 'pageview'")
    assert counts == [(len(stored),)]
    time_to_settle = cluster.query("SELECT reason, sum(events) FROM drops GROUP BY reason")
    assert ("prefetch", 3) in time_to_settle


def open_store(tmp_path: Path) -> tuple[Runtime, Writer]:
    """The loader's node: a database and its embedded writer, with the profile hooks the loader runs too."""
    settings = make_settings(tmp_path)
    runtime = open_runtime(settings)
    writer = Writer(runtime.con, open_journal(settings), Sealer(runtime.database_key), Rows(), hooks=[update_profiles])
    writer.start()
    return runtime, writer


def page_events(prefix: str, n: int) -> list[Event]:
    request = Request(ip="203.0.113.9", user_agent=UA, hints={}, gpc=False, prefetch=False)
    base = build_event({"d": "example.com", "u": "https://example.com/"}, None, request, datetime.now(UTC))
    return [base._replace(event_id=new_event_id(), path=f"/{prefix}/{i}") for i in range(n)]


def read(runtime: Runtime, sql: str) -> list[tuple[Any, ...]]:
    cur = store.cursor(runtime.con)
    try:
        return cur.execute(sql).fetchall()
    finally:
        cur.close()


def test_loader_skips_events_it_already_stored(one_nats: Cluster, tmp_path: Path) -> None:
    runtime, writer = open_store(tmp_path)
    events = page_events("r", 50)

    async def scenario() -> tuple[int, int]:
        nc = await connect([one_nats.nats_url], "test")
        try:
            js = nc.jetstream(timeout=5)
            await ensure_stream(js, 1)
            await StreamSink(js).write(events)
            # The same events again under another message id, as a replay JetStream cannot recognise,
            # and once more inside one batch: both must be recognised by event id.
            await publish(js, "collector.events", encode(events[:20]), "replay-1")
            await publish(js, "collector.events", encode(events[10:30] + events[10:15]), "replay-2")
            loader = Loader(js, writer, runtime.con)
            sub = await loader.subscribe()
            first = await sub.fetch(1, timeout=5)
            await loader.load(first)
            rest = await sub.fetch(10, timeout=5)
            await loader.load(rest)
            writer.sync()
            return loader.stats.events, loader.stats.replayed
        finally:
            await close_quietly(nc)

    try:
        loaded, replayed = asyncio.run(scenario())
        count = read(runtime, "SELECT count(*), count(DISTINCT event_id) FROM events")
    finally:
        writer.close()
        runtime.close()
    assert count == [(50, 50)]
    assert (loaded, replayed) == (50, 45)


def test_loader_reads_row_messages_runs_the_hooks_and_sets_aside_unreadable_ones(
    one_nats: Cluster, tmp_path: Path
) -> None:
    runtime, writer = open_store(tmp_path)
    events = page_events("m", 10)
    events[0] = events[0]._replace(visitor=42, consented=True)
    wrong_type = orjson.loads(encode(events[:1]))
    wrong_type["c"][SCHEMA.get_field_index("screen_w")] = ["wide"]
    not_a_uuid = orjson.loads(encode(events[:1]))
    not_a_uuid["c"][0] = ["not-a-uuid"]

    async def scenario() -> tuple[int, int, int]:
        nc = await connect([one_nats.nats_url], "test")
        try:
            js = nc.jetstream(timeout=5)
            await ensure_stream(js, 1)
            # Rows (format 1) from an ingest node of the previous version, then this version's columns.
            old = orjson.dumps({"v": 1, "e": [to_row(e) for e in events[:5]]})
            await publish(js, "collector.events", old, "old")
            await publish(js, "collector.events", orjson.dumps(wrong_type), "wrong-type")
            await publish(js, "collector.events", orjson.dumps(not_a_uuid), "not-a-uuid")
            await publish(js, "collector.events", encode(events[5:]), "new")
            loader = Loader(js, writer, runtime.con)
            sub = await loader.subscribe()
            await loader.load(await sub.fetch(4, timeout=5))
            with pytest.raises(nats.errors.TimeoutError):
                await sub.fetch(1, timeout=1.5)  # nothing delivered again: the two bad ones were set aside
            info = await js.consumer_info("COLLECTOR", "collector-loader")
            loader.close()
            return loader.stats.events, loader.stats.messages, int(info.num_ack_pending)
        finally:
            await close_quietly(nc)

    try:
        loaded, messages, unacked = asyncio.run(scenario())
        paths = {r[0] for r in read(runtime, "SELECT path FROM events")}
        profiles = read(runtime, "SELECT visitor, pageviews FROM profiles")
    finally:
        writer.close()
        runtime.close()
    assert paths == {f"/m/{i}" for i in range(10)}
    assert (loaded, messages, unacked) == (10, 2, 0)
    assert profiles == [(42, 1)]  # the writer's hooks ran in the loader's transaction


def test_loader_reads_arrow_messages_among_json_ones_once_each_and_sets_aside_bad_ones(
    one_nats: Cluster, tmp_path: Path
) -> None:
    runtime, writer = open_store(tmp_path)
    events = page_events("a", 300)
    events[0] = events[0]._replace(visitor=7, consented=True)
    events[150] = events[150]._replace(visitor=7, consented=True)
    bad_id = encode_arrow([events[1]._replace(event_id="not-a-uuid", path="/bad")])

    async def scenario() -> tuple[int, int, int]:
        nc = await connect([one_nats.nats_url], "test")
        try:
            js = nc.jetstream(timeout=5)
            await ensure_stream(js, 1)
            sink = StreamSink(js)
            await sink.write(events[:100])  # a group as an ingest node sends it: Arrow
            await publish(js, "collector.events", encode_json(events[100:110]), "json")
            await publish(js, "collector.events", bad_id, "bad-id")
            await publish(js, "collector.events", encode_arrow(events[100:250])[:-40], "cut-short")
            # Events 100-109 again, in Arrow, in the same fetch as their JSON message: stored once.
            await publish(js, "collector.events", encode_arrow(events[100:250]), "arrow-overlapping")
            await publish(js, "collector.events", orjson.dumps({"v": 1, "e": [to_row(e) for e in events[250:]]}), "v1")
            loader = Loader(js, writer, runtime.con)
            sub = await loader.subscribe()
            await loader.load(await sub.fetch(6, timeout=5))
            # Delivered again (a lost ack), now on its own: recognised by event id.
            await publish(js, "collector.events", encode_arrow(events[:80]), "replayed")
            await loader.load(await sub.fetch(1, timeout=5))
            with pytest.raises(nats.errors.TimeoutError):
                await sub.fetch(1, timeout=1.5)  # nothing delivered again: the bad ones were set aside
            info = await js.consumer_info("COLLECTOR", "collector-loader")
            loader.close()
            return loader.stats.events, loader.stats.replayed, int(info.num_ack_pending)
        finally:
            await close_quietly(nc)

    try:
        loaded, replayed, unacked = asyncio.run(scenario())
        stored = read(runtime, "SELECT path, count(*) FROM events GROUP BY path")
        profiles = read(runtime, "SELECT visitor, pageviews FROM profiles")
    finally:
        writer.close()
        runtime.close()
    assert dict(stored) == {f"/a/{i}": 1 for i in range(300)}
    assert (loaded, replayed, unacked) == (300, 10 + 80, 0)
    assert profiles == [(7, 2)]


def test_published_events_hold_only_stored_columns(settings: object) -> None:
    request = Request(ip="198.51.100.77", user_agent=UA, hints={}, gpc=False, prefetch=False)
    raw = {"d": "example.com", "u": "https://example.com/a?utm_source=news", "w": 390, "p": {"plan": "pro"}}
    event = build_event(raw | {"id": "consented-visitor-42"}, None, request, datetime.now(UTC))
    payload = encode([event])
    for secret in (b"198.51.100.77", UA.encode(), b"Chrome/124", b"consented-visitor-42"):
        assert secret not in payload
    assert decode(payload) == [[value] for value in to_row(event)]


def test_nodes_agree_on_the_daily_salt_and_rotation_destroys_it_everywhere(one_nats: Cluster) -> None:
    async def scenario() -> None:
        nc = await connect([one_nats.nats_url], "test")
        try:
            js = nc.jetstream(timeout=5)
            kv = await salt_bucket(js, replicas=1, grace_hours=2)
            a, b = KVSalts(kv), KVSalts(await salt_bucket(js, replicas=1, grace_hours=2))
            now = datetime.now(UTC)
            await asyncio.gather(a.rotate(now), b.rotate(now))
            today = now.date()
            assert a(today) == b(today) and len(a(today)) == 32
            assert a(today + timedelta(days=1)) == b(today + timedelta(days=1)) != a(today)
            later = now + timedelta(days=3)
            destroyed = await a.rotate(later)
            assert today in destroyed
            with pytest.raises(KeyNotFoundError):
                await kv.get(today.isoformat())
            await b.rotate(later)
            assert today not in b._salts
        finally:
            await close_quietly(nc)

    asyncio.run(scenario())


def test_ingest_node_refuses_to_start_without_the_shared_pepper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLLECTOR_PEPPER", raising=False)
    monkeypatch.delenv("COLLECTOR_DATABASE_KEY", raising=False)
    settings = replace(make_settings(tmp_path), sink="nats://127.0.0.1:1")
    assert serve_ingest(settings) == 2
    assert not settings.key_path.exists()


def test_ingest_node_limits_each_client_as_the_embedded_collector_does(one_nats: Cluster, tmp_path: Path) -> None:
    settings = replace(
        make_settings(tmp_path),
        sink=one_nats.nats_url,
        stream_replicas=1,
        rate_limit_client_per_second=0.01,
        rate_limit_client_burst=3,
    )
    app = create_ingest_app(settings, bytes(32))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/event"
        headers = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": UA}
        body = b'{"d":"example.com","u":"https://example.com/"}'
        codes = [httpx.post(url, content=body, headers=headers).status_code for _ in range(5)]
        assert codes == [202, 202, 202, 429, 429]
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
