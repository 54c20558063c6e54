"""How one loop turn's queued writes become frames for the journal process: how much goes in each.

Each item is what one caller queued (rows, or one raw request) with its waiter; a frame carries a run
of consecutive items, so one acknowledgement settles all their waiters. Pure: journal_link.py sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import orjson

from collector.ingest.handler import RawRequest, dump_requests
from collector.storage.batches import Row

T = TypeVar("T")
MAX_FRAME_BYTES = 4 << 20  # well under the journal's record limit
# Rows come out at most a few times larger than the bodies they were parsed from.
MAX_REQUESTS_FRAME_BYTES = 1 << 20
# Small frames let the journal process answer the first requests of a busy loop turn while it parses the rest.
REQUESTS_PER_FRAME = 16


def row_frames(items: list[tuple[list[Row], T]]) -> Iterator[tuple[list[T], int, bytes]]:
    """(waiters, rows, EVENTS payload) per frame: as many items as fit MAX_FRAME_BYTES, at least one."""
    while items:
        chunk = items
        rows = [r for rs, _ in chunk for r in rs]
        payload = orjson.dumps(rows) if rows else b""
        while len(payload) > MAX_FRAME_BYTES and len(chunk) > 1:
            chunk = chunk[: len(chunk) // 2]
            rows = [r for rs, _ in chunk for r in rs]
            payload = orjson.dumps(rows)
        items = items[len(chunk) :]
        yield [waiter for _, waiter in chunk], len(rows), payload


def request_frames(items: list[tuple[RawRequest | None, T]]) -> Iterator[tuple[list[T], bytes]]:
    """(waiters, REQUESTS payload) per frame: up to REQUESTS_PER_FRAME requests and about
    MAX_REQUESTS_FRAME_BYTES of bodies, at least one request."""
    while items:
        count, size = 0, 0
        while count < min(len(items), REQUESTS_PER_FRAME) and (
            count == 0 or size + _size(items[count][0]) <= MAX_REQUESTS_FRAME_BYTES
        ):
            size += _size(items[count][0])
            count += 1
        yield [waiter for _, waiter in items[:count]], dump_requests([r for r, _ in items[:count]])
        items = items[count:]


def _size(request: RawRequest | None) -> int:
    return len(request[2]) if request is not None else 0
