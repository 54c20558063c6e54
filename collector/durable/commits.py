"""Group commits: what a failed one raises, how they are counted, and how their waiting requests are answered.

Shared by the journal link (the embedded collector) and the stream sink (a scale-out ingest node).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

COMMIT_BUCKETS_MS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, float("inf"))


class WriteFailed(Exception):
    """The events could not be made durable."""


@dataclass(slots=True)
class CommitStats:
    groups: int = 0
    events: int = 0
    failures: int = 0
    fsync_ms_total: float = 0.0
    fsync_ms_buckets: Counter[float] = field(default_factory=Counter)

    def observe_fsync(self, ms: float) -> None:
        self.fsync_ms_total += ms
        self.fsync_ms_buckets[next(b for b in COMMIT_BUCKETS_MS if ms <= b)] += 1


def settle(futures: list[asyncio.Future[Any]], error: BaseException | None) -> None:
    """Resolve every waiting request's future: all stored, or all failed with the reason."""
    for future in futures:
        if future.done() or future.get_loop().is_closed():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(WriteFailed(str(error)))
