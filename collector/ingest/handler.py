"""The pipeline as the journal process's handler: a frame of raw requests in, rows to journal and answers out.

An event loop that parses is CPU-bound at about 150 us per request, two thirds of it parsing, the
pipeline and their plumbing (docs/benchmarks.md). Here they run on the other core, in the process that
journals the rows (durable/process.py); the loop only reads bodies, forwards them and sends the answers.
"""

from __future__ import annotations

import logging
import os
import pickle
import traceback
from collections import Counter
from dataclasses import dataclass
from datetime import date

from collector.devices import hardware
from collector.devices.detect import Detector
from collector.devices.detect import warm as warm_devices
from collector.durable.counts import Report
from collector.durable.wire import Answers, RawRequest, Refusal, dump, load_requests
from collector.events import DropReason
from collector.identifiers.salts import SaltCache
from collector.ingest.accept import Acceptor, refusal
from collector.ingest.pipeline.scrub import ScrubCounts
from collector.ingest.pipeline.steps import build_pipeline
from collector.ingest.ratelimit import RateLimits
from collector.logs import configure_logging
from collector.settings import Settings
from collector.storage.rows import DayDrop, Row, day_drop, to_row

log = logging.getLogger("collector.ingest.handler")
INTERNAL_ERROR = refusal(500, "internal error")


class IngestConfig:
    """The server's side of the pipeline in the journal process: its spec, and the salts whenever they change."""

    def __init__(self, settings: Settings, pepper: bytes, salts: SaltCache) -> None:
        self.settings = settings
        self.pepper = pepper
        self.salts = salts  # the server's; the process gets a copy whenever they change
        self._sent = -1  # the version of the salts the journal process has

    def spec(self) -> IngestSpec:
        self._sent = self.salts.version
        return IngestSpec(self.settings, self.pepper, self.salts.known())

    def changes(self) -> bytes | None:
        if self.salts.version == self._sent:
            return None
        self._sent = self.salts.version
        return dump(self.salts.known())


@dataclass(frozen=True, slots=True)
class IngestSpec:
    """What the journal process needs to run the pipeline (pickled into its JournalConfig)."""

    settings: Settings
    pepper: bytes
    salts: dict[date, bytes]

    @property
    def preload(self) -> str:
        return "collector.ingest.zygote"

    def open(self) -> IngestSide:
        configure_logging(self.settings.log_level)  # JSON lines on the server's stderr, like its own
        side = IngestSide(self.settings, self.pepper, self.salts)
        warm_devices()  # forked from the zygote, which loaded them: this loads nothing unless the zygote could not
        log.info("journal process ready", extra={"pid": os.getpid()})
        return side


class IngestSide:
    """Runs the pipeline on each frame of requests, and reports its counters with every answer."""

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

    def _count_drop(self, site: str, reason: DropReason) -> None:
        self.drops[day_drop(site, reason)] += 1

    def update(self, payload: bytes) -> None:
        """The server's salts, after they changed."""
        self.salts.replace(pickle.loads(payload))

    def handle(self, payload: bytes) -> tuple[list[Row], bytes]:
        """The rows to journal and the answers to send once they are durable (dump of Answers)."""
        requests: list[RawRequest] = load_requests(payload)
        accept = self.acceptor.accept
        refusals: list[Refusal | None] = []
        rows: list[Row] = []
        for request in requests:
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
        return rows, dump(Answers(refusals, self.report(len(rows))))

    def report(self, stored: int) -> Report:
        """The counters since the previous report."""
        drops, self.drops = self.drops, Counter()
        limited = None
        if self.limits.limited != self.sent_limited:
            limited = self.limits.limited - self.sent_limited
            self.sent_limited = Counter(self.limits.limited)
        detector = self.detector
        hits, misses = detector.hits - self.sent_hits, detector.misses - self.sent_misses
        self.sent_hits, self.sent_misses = detector.hits, detector.misses
        client = self.limits.client
        return Report(
            stored,
            dict(drops) or None,
            dict(self.scrubbed.take()) or None,
            limited,
            hits,
            misses,
            len(client) if client is not None else 0,
            hardware.complete(),
        )
