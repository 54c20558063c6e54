"""The ingest side of the journal process: a frame of raw requests in, rows to journal and answers out.

An event loop that parses is CPU-bound at about 150 us per request, two thirds of it parsing, the
pipeline and their plumbing (docs/benchmarks.md). Here they run on the other core, in the process that journals the rows; the
loop only reads bodies, forwards them and sends the answers. The frames travel over the server's own
socket pair between two processes of the same program, so pickle is safe here.
"""

from __future__ import annotations

import logging
import pickle
import traceback
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from collector.devices import hardware
from collector.devices.detect import Detector
from collector.devices.detect import warm as warm_devices
from collector.events import DropReason
from collector.identifiers.salts import SaltCache
from collector.ingest.accept import Acceptor, DayDrop, Refusal, day_drop, refusal
from collector.ingest.pipeline.scrub import ScrubCounts
from collector.ingest.pipeline.steps import build_pipeline
from collector.ingest.ratelimit import RateLimits
from collector.settings import Settings
from collector.storage.batches import Row, to_row

log = logging.getLogger("collector.ingestd")
INTERNAL_ERROR = refusal(500, "internal error")

# One request as the loop forwards it: the peer's address, its headers by lower-case name, its body.
RawRequest = tuple[str | None, dict[str, str], bytes]


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """What the journal process needs to run the pipeline itself (this module)."""

    settings: Settings
    pepper: bytes
    salts: SaltCache  # the server's; the process gets a copy whenever they change


class Answers(NamedTuple):
    """The reply to one frame of requests, once its rows are durable (a tuple: it pickles in C)."""

    refusals: list[Refusal | None]  # per request: None for 202
    stored: int  # rows journaled (they reach the server's DuckDB loader in a ROWS batch: shipping.py)
    # Counted since the previous reply (None when nothing was):
    drops: dict[DayDrop, int] | None
    scrubbed: dict[tuple[str, str, str, str], int] | None
    limited: dict[tuple[str, str], int] | None
    device_hits: int
    device_misses: int
    # As they stand:
    clients: int
    rules_complete: bool


class IngestSide:
    def __init__(self, settings: Settings, pepper: bytes, salts: dict[date, bytes]) -> None:
        self.salts = SaltCache(settings.salt_grace_hours)
        self.salts.replace(salts)
        self.detector = Detector()
        self.scrubbed = ScrubCounts()
        self.drops: Counter[DayDrop] = Counter()
        pipeline = build_pipeline(settings, pepper, self.salts, self.detector.detect, self.scrubbed)
        self.limits = RateLimits(settings)
        self.acceptor = Acceptor(settings, pipeline, self.limits, self._count_drop, self.detector)
        self.sent_limited: Counter[tuple[str, str]] = Counter()
        self.sent_hits = self.sent_misses = 0

    @staticmethod
    def warm() -> None:
        warm_devices()

    def _count_drop(self, site: str, reason: DropReason) -> None:
        self.drops[day_drop(site, reason)] += 1

    def set_salts(self, payload: bytes) -> None:
        self.salts.replace(pickle.loads(payload))

    def handle(self, payload: bytes) -> tuple[list[Row], bytes]:
        """The rows to journal and the answers to send once they are durable (dump of Answers)."""
        requests: list[RawRequest | None] = pickle.loads(payload)
        accept = self.acceptor.accept
        refusals: list[Refusal | None] = []
        rows: list[Row] = []
        for request in requests:
            if request is None:  # a health probe: it only needs the answer
                refusals.append(None)
                continue
            try:
                verdict = accept(*request)
                kept = [to_row(e) for e in verdict.events]
            except Exception as exc:  # a bug must cost one request its answer, not the whole frame its process
                refusals.append(INTERNAL_ERROR)
                where = traceback.extract_tb(exc.__traceback__)[-1]
                # The type and place only: an exception's message may quote the request.
                log.error(
                    "unexpected %s accepting a request at %s:%s", type(exc).__name__, where.filename, where.lineno
                )
                continue
            refusals.append(verdict.refused)
            rows.extend(kept)
        drops, self.drops = self.drops, Counter()
        limited = None
        if self.limits.limited != self.sent_limited:
            limited = self.limits.limited - self.sent_limited
            self.sent_limited = Counter(self.limits.limited)
        detector = self.detector
        hits, misses = detector.hits - self.sent_hits, detector.misses - self.sent_misses
        self.sent_hits, self.sent_misses = detector.hits, detector.misses
        client = self.limits.client
        answers = Answers(
            refusals,
            len(rows),
            dict(drops) or None,
            dict(self.scrubbed.take()) or None,
            limited,
            hits,
            misses,
            len(client) if client is not None else 0,
            hardware.complete(),
        )
        return rows, pickle.dumps(answers, protocol=pickle.HIGHEST_PROTOCOL)


def load_answers(payload: bytes) -> Answers:
    answers: Answers = pickle.loads(payload)
    return answers


def dump_requests(requests: list[RawRequest | None]) -> bytes:
    return pickle.dumps(requests, protocol=pickle.HIGHEST_PROTOCOL)
