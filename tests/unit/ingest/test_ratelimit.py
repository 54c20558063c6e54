"""TokenBucket and RateLimits: bursts, refill, bounded memory and the keyed client hash."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from collector.ingest.ratelimit import RateLimits, TokenBucket
from tests.conftest import DESKTOP_UA, make_settings


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
