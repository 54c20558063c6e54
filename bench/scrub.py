"""What scrubbing and click-id stripping cost on the ingest pipeline: events/s with and without the two steps.

Runs the real pipeline (with the server's cached device detector) over a mix of clean and leaky URLs and props, in the
same run, and prints the ratio. Usage: .venv/bin/python bench/scrub.py [--events N]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from datetime import UTC, datetime

from collector.devices.detect import Detector, warm
from collector.events import Event, Request
from collector.ingest.parsing import build_event
from collector.ingest.pipeline.steps import Pipeline, build_pipeline
from collector.settings import Settings, Site

UA = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"
)
URLS = (
    "https://example.com/products/blue-shoes?utm_source=news&utm_campaign=spring",
    "https://example.com/checkout?gclid=Cj0KCQjw&utm_source=google&utm_medium=cpc",
    "https://example.com/users/jane%40x.com/orders/0912345678?fbclid=IwAR0abc",
    "https://example.com/",
)
PROPS = ({}, {"plan": "pro", "price": "129.900.000"}, {"email": "jane@x.com", "note": "call +84 912 345 678"})


def events(n: int, leaky: bool = True) -> list[Event]:
    now = datetime.now(UTC)
    urls = URLS if leaky else (URLS[0], URLS[3])
    props = PROPS if leaky else PROPS[:2]
    out = []
    for i in range(n):
        request = Request(ip=f"10.1.{i % 250}.{i % 199}", user_agent=UA, hints={}, gpc=False, prefetch=False)
        raw = {"d": "example.com", "u": urls[i % len(urls)], "p": props[i % len(props)]}
        out.append(build_event(raw, None, request, now))
    return out


def rate(pipeline: Pipeline, batch: list[Event]) -> float:
    started = time.perf_counter()
    for event in batch:
        pipeline.run(event)
    return len(batch) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check in seconds that the bench runs")
    args = parser.parse_args()
    if args.quick:
        args.events = 500
        args.rounds = 1
    warm()
    settings = Settings(sites=(Site("example.com", ("https://example.com",)),))
    salt = secrets.token_bytes(32)
    full = build_pipeline(settings, secrets.token_bytes(32), lambda day: salt, Detector().detect)  # as app.py
    without = Pipeline([(name, step) for name, step in full.steps if name not in ("strip_click_ids", "put_scrubbed")])
    print(f"pipeline over {args.events} events, median of {args.rounds} rounds (events/s)")
    print(f"{'':34}{'without':>10}{'with':>10}{'ratio':>8}")
    for label, leaky in (("clean URLs and props", False), ("leaky: half with ids or click ids", True)):
        batch = events(args.events, leaky)
        rate(full, batch[:2000])  # warm caches
        with_steps, without_steps = [], []
        for _ in range(args.rounds):
            without_steps.append(rate(without, batch))
            with_steps.append(rate(full, batch))
        a, b = statistics.median(without_steps), statistics.median(with_steps)
        print(f"{label:34}{a:>10,.0f}{b:>10,.0f}{b / a:>7.2f}x")
    print("(without = the pipeline minus strip_click_ids and put_scrubbed)")


if __name__ == "__main__":
    main()
