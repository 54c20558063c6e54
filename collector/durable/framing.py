"""How one loop turn's queued requests become REQUESTS frames for the journal process: how many go in each.

Each item is one request with its waiter; a frame carries a run of consecutive items, so one answer
settles all their waiters. Pure: link.py sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from collector.durable.wire import RawRequest, dump_requests

T = TypeVar("T")
# Rows come out at most a few times larger than the bodies they were parsed from: well under the
# journal's record limit.
MAX_REQUESTS_FRAME_BYTES = 1 << 20
# Small frames let the journal process answer the first requests of a busy loop turn while it parses the rest.
REQUESTS_PER_FRAME = 16


def request_frames(items: list[tuple[RawRequest, T]]) -> Iterator[tuple[list[T], bytes]]:
    """(waiters, REQUESTS payload) per frame: up to REQUESTS_PER_FRAME requests and about
    MAX_REQUESTS_FRAME_BYTES of bodies, at least one request."""
    while items:
        count, size = 0, 0
        while count < min(len(items), REQUESTS_PER_FRAME) and (
            count == 0 or size + len(items[count][0][2]) <= MAX_REQUESTS_FRAME_BYTES
        ):
            size += len(items[count][0][2])
            count += 1
        yield [waiter for _, waiter in items[:count]], dump_requests([r for r, _ in items[:count]])
        items = items[count:]
