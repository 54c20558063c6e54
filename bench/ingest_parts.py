"""Where a request's time goes, in process (no HTTP, no load generator): µs per part.

Run: .venv/bin/python bench/ingest_parts.py [--quick]   (about 40 s; --quick a few seconds)

Prints each part of POST /api/event alone; what the journal process spends per request (frames of 16
through IngestSide.handle); then, against the same run's baseline (an ASGI app that only reads the
body and answers 202), the ingest route with the pipeline in process and a sink that returns at once
(as on a scale-out ingest node), and the whole app as served, where the event loop only forwards
bodies to the journal process (its cost on the loop thread; the process runs beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import shutil
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector.devices.detect import Detector, warm
from collector.durable.wire import dump_requests
from collector.events import DropReason, Event, Request
from collector.http.asgi import App, Direct, header_map, respond_prebuilt
from collector.http.bodies import read_body
from collector.http.ingest import Ingest
from collector.ingest.accept import Acceptor
from collector.ingest.clientip import client_ip
from collector.ingest.handler import IngestSide
from collector.ingest.parsing import build_event, parse_body
from collector.ingest.pipeline.steps import build_pipeline
from collector.ingest.ratelimit import RateLimits
from collector.scaleout.node import InProcess
from collector.settings import Settings, Site
from collector.storage.rows import to_row

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
BODY = (
    b'{"d":"example.com","u":"https://example.com/p/42?utm_source=bench","r":"https://news.example.org/x",'
    b'"w":390,"h":844,"l":"en-US","tz":"Europe/Berlin"}'
)
HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", UA.encode()),
    (b"content-type", b"text/plain;charset=UTF-8"),
    (b"origin", b"https://example.com"),
    (b"content-length", str(len(BODY)).encode()),
    (b"accept", b"*/*"),
    (b"connection", b"keep-alive"),
]
SCOPE: dict[str, Any] = {"type": "http", "method": "POST", "path": "/api/event", "client": ("127.0.0.1", 5555)}
SCOPE["headers"] = HEADERS


class NoSink:
    async def write(self, events: Sequence[Event]) -> None:
        return None

    def count_drop(self, site: str, reason: DropReason) -> None:
        return None

    def start(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    def close(self) -> None:
        return None


SCALE = 1.0  # --quick: a tenth of every count


def per_call(fn: Callable[[], object], number: int = 20_000) -> float:
    number = max(1, int(number * SCALE))
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


async def per_request(app: Any, requests: int, concurrency: int = 64) -> float:
    """Main-thread CPU µs per request, `concurrency` requests in flight as under wrk -c64."""
    message = {"type": "http.request", "body": BODY, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 202:
            raise RuntimeError(f"the route answered {message['status']}, not 202")

    async def worker(n: int) -> None:
        for _ in range(n):
            await app(SCOPE, receive, send)

    requests = max(concurrency, int(requests * SCALE))
    await asyncio.gather(*(worker(int(500 * SCALE)) for _ in range(concurrency)))  # warm-up
    started = time.thread_time()
    await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
    return (time.thread_time() - started) / requests * 1e6


async def noop(scope: Any, receive: Any, send: Any) -> None:
    await read_body(receive, 16_384)
    await respond_prebuilt(send, 202, [(b"content-length", b"0")])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a tenth of the calls: seconds, noisier figures")
    global SCALE
    SCALE = 0.1 if parser.parse_args().quick else 1.0
    tmp = Path(tempfile.mkdtemp(prefix="bench-parts-"))
    site = Site(domain="example.com", origins=("https://example.com",))
    unlimited = {"rate_limit_client_per_second": 0.0, "rate_limit_site_per_second": 0.0}  # 0 turns a limit off
    settings = replace(Settings(), data_dir=tmp, sites=(site,), **unlimited)  # type: ignore[arg-type]
    detector = Detector()
    warm()
    pipeline = build_pipeline(settings, b"p" * 32, lambda day: b"s" * 16, detector.detect)
    request = Request(ip="127.0.0.1", user_agent=UA, hints={}, gpc=False, prefetch=False)
    now = datetime.now(UTC)
    raw = parse_body(BODY, 100)[0]
    event = build_event(raw, None, request, now, True)
    limits = RateLimits(settings)
    done = pipeline.run(event)
    limited = RateLimits(replace(settings, rate_limit_client_per_second=1e9, rate_limit_client_burst=10**9))
    print("part of one request                       µs")
    parts = {
        "header map": lambda: header_map(SCOPE),
        "client address": lambda: client_ip("127.0.0.1", None, (), None),
        "rate limit": lambda: limited.check_client("127.0.0.1", UA),
        "parse body (orjson)": lambda: parse_body(BODY, 100),
        "build and validate the event": lambda: build_event(raw, None, request, now, True),
        "pipeline (device, URL, scrub, hash)": lambda: pipeline.run(event),
        "row for the journal": lambda: to_row(done),
    }
    for name, fn in parts.items():
        print(f"  {name:<38}{per_call(fn):>6.2f}")
    for step_name, step in pipeline.steps:
        print(f"    step {step_name:<33}{per_call(functools.partial(step, event)):>6.2f}")
    side = IngestSide(settings, b"p" * 32, {now.date(): b"s" * 16})
    forwarded = ("127.0.0.1", header_map(SCOPE), BODY)
    frame = dump_requests([forwarded] * 16)
    print(f"  {'journal process, per request':<38}{per_call(lambda: side.handle(frame), 2_000) / 16:>6.2f}")

    async def routes() -> tuple[float, float]:
        base = await per_request(App(direct=[Direct("/api/event", frozenset({"POST"}), noop)]), 40_000)
        ingest = Ingest(settings, InProcess(Acceptor(settings, pipeline, limits, NoSink().count_drop), NoSink()))
        ours = await per_request(App(direct=[Direct("/api/event", frozenset({"POST"}), ingest)]), 40_000)
        await ingest.close()
        return base, ours

    base, ours = uvloop.run(routes())
    whole = whole_app_with_writer(tmp, settings)
    print(f"no-op ASGI route (reads the body, answers 202) {base:>6.1f} µs per request  (baseline)")
    print(f"ingest route, pipeline in process, no-op sink  {ours:>6.1f} µs  ({ours / base:.1f}x the baseline)")
    print(f"whole app as served (loop thread only)         {whole:>6.1f} µs  ({whole / base:.1f}x the baseline)")
    shutil.rmtree(tmp, ignore_errors=True)


def whole_app_with_writer(tmp: Path, settings: Settings) -> float:
    """The app as served (lifespan, journal process, loader thread), without uvicorn."""
    from collector.app import create_app

    app = create_app(replace(settings, data_dir=tmp / "data"))

    async def run() -> float:
        async with app.router.lifespan_context(app):
            return await per_request(app, 40_000)

    return uvloop.run(run())


if __name__ == "__main__":
    main()
