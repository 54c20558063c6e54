"""Token buckets for ingest: one per site and one per client, in memory only, with bounded memory.

A client is a keyed hash of its address and User-Agent (the key is random per process and never
stored), so no address is kept even in memory. Checks run on the event loop thread: no locks needed.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable

from collector.settings import Settings

MAX_CLIENTS = 100_000


class TokenBucket:
    """Buckets of `burst` tokens refilled at `rate` per second; the least recently used are evicted first.

    An evicted bucket was idle the longest, so it had (nearly) refilled: forgetting it lets nobody
    through who would not have passed anyway, except a client that waited exactly that long.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        max_keys: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[Hashable, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Hashable, cost: float = 1.0) -> float:
        """Take `cost` tokens; 0.0 when allowed, else the seconds to wait before it would be."""
        now = self.clock()
        cost = min(cost, self.burst)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = [self.burst, now]
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket[0] = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
        if bucket[0] >= cost:
            bucket[0] -= cost
            return 0.0
        return (cost - bucket[0]) / self.rate


def client_key(key: bytes, ip: str, user_agent: str) -> bytes:
    """Who a client is, for a bucket: a keyed hash of its address and User-Agent (`key` random per process)."""
    data = f"{ip}\x00{user_agent}".encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, key=key, digest_size=8).digest()


class RateLimits:
    """The ingest limits from the settings; a rate of 0 turns that limit off."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.site = (
            TokenBucket(settings.rate_limit_site_per_second, settings.rate_limit_site_burst, clock=clock)
            if settings.rate_limit_site_per_second > 0
            else None
        )
        self.client = (
            TokenBucket(settings.rate_limit_client_per_second, settings.rate_limit_client_burst, clock=clock)
            if settings.rate_limit_client_per_second > 0
            else None
        )
        self.limited: Counter[tuple[str, str]] = Counter()  # (limit, site); site is "" for the client limit
        self._key = secrets.token_bytes(16)

    def client_key(self, ip: str, user_agent: str) -> bytes:
        return client_key(self._key, ip, user_agent)

    def check_client(self, ip: str, user_agent: str) -> int:
        """0 when this client may send one more request, else the whole seconds to wait."""
        if self.client is None:
            return 0
        return self._verdict("client", "", self.client.take(self.client_key(ip, user_agent)))

    def check_site(self, site: str, events: int) -> int:
        if self.site is None:
            return 0
        return self._verdict("site", site, self.site.take(site, events))

    def _verdict(self, limit: str, site: str, wait: float) -> int:
        if wait <= 0:
            return 0
        self.limited[(limit, site)] += 1
        return max(1, math.ceil(wait))
