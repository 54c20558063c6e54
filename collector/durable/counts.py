"""Ingest counters: a Report of what changed where the pipeline runs, a Tally of the totals /metrics shows.

The journal process sends a Report with every answer; the server adds it to its Tally and passes its
drop and scrubbing counts on to the next DuckDB load. A scale-out ingest node keeps a Tally in process.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from collector.events import DropReason
from collector.storage.rows import DayDrop

# Scrubbed values and stripped click ids per (site, day, kind, field).
ScrubKey = tuple[str, str, str, str]


class Report(NamedTuple):
    """Counted since the previous report (None when nothing was), then two values as they stand."""

    stored: int  # rows journaled (they reach the server's DuckDB loader in a ROWS batch: shipping.py)
    drops: dict[DayDrop, int] | None
    scrubbed: dict[ScrubKey, int] | None
    limited: dict[tuple[str, str], int] | None
    device_hits: int
    device_misses: int
    clients: int
    rules_complete: bool


@dataclass(slots=True)
class Tally:
    """What /metrics reports of ingest."""

    accepted: int = 0
    drops: Counter[tuple[str, DropReason]] = field(default_factory=Counter)
    limited: Counter[tuple[str, str]] = field(default_factory=Counter)  # (limit, site); site "" for clients
    clients: int = 0  # client rate-limit buckets held
    device_hits: int = 0
    device_misses: int = 0
    rules_complete: bool = False

    def add(self, report: Report) -> None:
        self.accepted += report.stored
        if report.drops:
            for (site, _, reason), n in report.drops.items():
                self.drops[(site, reason)] += n
        if report.limited:
            self.limited.update(report.limited)
        self.device_hits += report.device_hits
        self.device_misses += report.device_misses
        self.clients = report.clients
        self.rules_complete = report.rules_complete
