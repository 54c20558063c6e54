from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import orjson

from collector.ingest.ratelimit import RateLimits, TokenBucket
from tests.conftest import DESKTOP_UA, ORIGIN, SITE, LiveServer, make_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == 0.5
    clock.now += 0.5
    assert bucket.take("a") == 0.0
    assert bucket.take("a") == 0.5
    clock.now += 100
    assert [bucket.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5], "refill stops at the burst"


def test_bucket_keys_are_independent_and_a_batch_costs_its_size() -> None:
    bucket = TokenBucket(rate=1, burst=10, clock=Clock())
    assert bucket.take("a", 10) == 0.0
    assert bucket.take("a") == 1.0
    assert bucket.take("b", 4) == 0.0
    assert bucket.take("c", 50) == 0.0, "a batch larger than the burst costs the burst, never refused forever"


def test_memory_is_bounded_and_the_busiest_bucket_is_kept() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=1, burst=2, max_keys=100, clock=clock)
    bucket.take("flood", 2)
    for i in range(1000):
        bucket.take(i)
        bucket.take("flood")
    assert len(bucket) == 100
    assert bucket.take("flood") > 0, "the flooding client stays limited while idle buckets are evicted"


def test_client_key_is_a_keyed_hash_that_never_holds_the_address(tmp_path: Path) -> None:
    limits = RateLimits(make_settings(tmp_path))
    key = limits.client_key("203.0.113.9", DESKTOP_UA)
    assert len(key) == 8 and b"203.0.113.9" not in key
    assert key == limits.client_key("203.0.113.9", DESKTOP_UA)
    assert key != limits.client_key("203.0.113.9", DESKTOP_UA + " x")
    assert key != RateLimits(make_settings(tmp_path)).client_key("203.0.113.9", DESKTOP_UA), "random key per process"


def test_zero_turns_a_limit_off(tmp_path: Path) -> None:
    limits = RateLimits(replace(make_settings(tmp_path), rate_limit_client_per_second=0, rate_limit_site_per_second=0))
    assert limits.client is None and limits.site is None
    assert all(limits.check_client("1.2.3.4", "ua") == 0 for _ in range(10_000))


def post(server: LiveServer, events: int = 1, ua: str = DESKTOP_UA) -> httpx.Response:
    event = {"d": SITE, "u": "https://example.com/"}
    body = orjson.dumps([event] * events if events > 1 else event)
    headers = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": ua}
    return httpx.post(f"{server.url}/api/event", content=body, headers=headers)


def test_flooding_client_gets_429_with_retry_after_and_others_are_not_affected(tmp_path: Path) -> None:
    settings = replace(make_settings(tmp_path), rate_limit_client_per_second=0.2, rate_limit_client_burst=3)
    server = LiveServer(settings).start()
    try:
        assert [post(server).status_code for _ in range(3)] == [202, 202, 202]
        refused = post(server)
        assert refused.status_code == 429
        # One token every 5 s: 5 s from the first request, less if the first three took a second (a loaded machine).
        wait = refused.headers["retry-after"]
        assert wait in ("4", "5")
        assert refused.headers["access-control-allow-origin"] == ORIGIN, "the browser may read the answer"
        assert refused.json() == {"error": f"this client sends too many events; retry after {wait} s", "field": None}
        assert post(server, ua=DESKTOP_UA.replace("124", "125")).status_code == 202
        assert server.query("SELECT count(*) FROM events") == [(4,)]
        assert server.live.ingest is not None
        assert server.live.ingest.tally.limited == {("client", ""): 1}
    finally:
        server.stop()


def test_site_limit_counts_events_not_requests(tmp_path: Path) -> None:
    settings = replace(
        make_settings(tmp_path),
        rate_limit_site_per_second=1,
        rate_limit_site_burst=10,
        rate_limit_client_per_second=0,
    )
    server = LiveServer(settings).start()
    try:
        assert post(server, events=6).status_code == 202
        refused = post(server, events=6)
        assert refused.status_code == 429
        assert refused.json()["error"] == f"site {SITE} receives too many events; retry after 2 s"
        assert post(server, events=4).status_code == 202
        assert server.query("SELECT count(*) FROM events") == [(10,)]
    finally:
        server.stop()


def test_default_limits_let_a_normal_browsing_session_through(server: LiveServer) -> None:
    # A busy visitor: 60 page views and events in a burst, far more than a person clicks.
    assert {post(server).status_code for _ in range(60)} == {202}
