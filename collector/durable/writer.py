"""Group commit through a journal: a 202 waits only for an fdatasync, DuckDB loads in large batches.

Handlers never touch DuckDB. They queue each request (submit) with a future and await it. Once per
turn of the event loop, everything queued goes to the journal process (process.py) in frames; it runs
the server's handler (the pipeline), appends the rows it keeps as encrypted records, fdatasyncs, and
answers; the loop then resolves every future: that is the durable commit behind a 202. The journal
process also ships the durable rows back as Arrow batches (shipping.py); the loader thread inserts
what has come since its last load into DuckDB as one table per transaction, together with the journal
position it has loaded through, so a crash between the two replays each record exactly once.

Small DuckDB transactions cost 4-20 ms each on these machines (the insert and its own WAL fsync), so
committing every group to DuckDB would cap ingest near 64 events per commit; the journal's fsync is the
only wait on the request path, and DuckDB sees a few large batches a second instead. The journal is a
process, not a thread: a thread was measured waiting 2 to 4 ms for the GIL around each 0.3 ms fdatasync.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb
import orjson
import pyarrow as pa

from collector.durable.commits import CommitStats
from collector.durable.commits import WriteFailed as WriteFailed
from collector.durable.counts import Report, ScrubKey, Tally
from collector.durable.journal import Journal, Position, Sealer
from collector.durable.link import JournalLink
from collector.durable.process import journal_lock
from collector.durable.salvage import Damage, salvage
from collector.durable.shipping import decode
from collector.durable.wire import HandlerSource, RawRequest, Refusal
from collector.storage.batches import BatchHook, load_rows, stored_position
from collector.storage.rows import DayDrop, Row

log = logging.getLogger("collector.writer")


class Scrubbed(Protocol):
    """Scrubbing counts held for the load transaction that stores them (a writer hook takes them)."""

    def put_back(self, counts: Counter[ScrubKey]) -> None: ...


@dataclass(slots=True)
class WriterStats(CommitStats):
    loads: int = 0
    loaded_events: int = 0
    load_ms_total: float = 0.0
    load_failures: int = 0
    replayed: int = 0
    records_lost: int = 0  # in damaged journal segments set aside at start-up (collector.durable.salvage)


# A DuckDB load costs 12 to 20 ms of CPU in the server whatever its size (100 rows as much as 1,000:
# the transaction, the Arrow scan's set-up, the WAL write and its fsync), so the loader takes what the
# journal process has made durable once a second rather than four times. Readers that need the latest
# events call sync(), which wakes it at once; the journal holds the events until they are loaded.
LOAD_SECONDS = 1.0


class Writer:
    """A journal process for the group commit (link.py), a loader thread for DuckDB."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        journal: Journal,
        sealer: Sealer,
        handlers: HandlerSource,
        batch_events: int = 20_000,
        hooks: Sequence[BatchHook] = (),
        load_interval: float = LOAD_SECONDS,
        scrubbed: Scrubbed | None = None,
    ) -> None:
        self.con = con
        self.journal = journal
        self.sealer = sealer
        self.batch_events = batch_events
        self.hooks = list(hooks)
        self.load_interval = load_interval
        self.stats = WriterStats()
        self.load_error: str | None = None
        self.tally = Tally()  # of the requests the journal process's handler accepted
        self.scrubbed = scrubbed
        self.link = JournalLink(journal, sealer, self._durable, self.stats, handlers, self._reported)
        self._drops: Counter[DayDrop] = Counter()
        self._pending: list[tuple[bytes, int, Position]] = []  # batches from the journal process
        self._cond = threading.Condition()
        # One load at a time: this writer's and the scale-out loader's (load_unseen), whose hooks upsert the same rows.
        self.db_lock = threading.Lock()
        self._loaded = Position(0, 0)
        self._stopping = False
        self._busy = False
        self._urgent = False
        self._pending_rows = 0
        self._loader_thread = threading.Thread(target=self._load_loop, name="collector-loader", daemon=True)

    def start(self) -> None:
        with journal_lock(self.journal.folder):  # a journal process left by a killed server has finished
            self.journal.reopen()  # what it appended after this server opened the journal counts too
            self.stats.replayed = replay(self.con, self.journal, self.sealer, self._damaged)
            self.link.end = self.link.shipped = self._loaded = self.journal.end
            self.journal.close()  # the journal process appends from here on
        if self.stats.replayed:
            log.warning("replayed events from the journal after an unclean stop", extra={"events": self.stats.replayed})
        self.link.start()
        self._loader_thread.start()

    def _damaged(self, damage: Damage) -> None:
        self.stats.records_lost += damage.records_lost

    @property
    def queue_depth(self) -> int:
        return self.link.queue_depth

    def submit(self, request: RawRequest) -> Coroutine[Any, Any, Refusal | None]:
        """Have the journal process's handler parse, check and journal one request; None means 202."""
        return self.link.submit(request)  # no coroutine of its own: one less per request

    def _reported(self, report: Report) -> None:
        self.tally.add(report)
        if report.drops:
            with self._cond:
                self._drops.update(report.drops)
        if report.scrubbed and self.scrubbed is not None:
            self.scrubbed.put_back(Counter(report.scrubbed))

    async def ping(self) -> None:
        """Succeeds when the journal can fsync, its handler answers, and the loader keeps up without errors."""
        await self.link.probe()
        if self.load_error is not None:
            raise WriteFailed(f"loading into DuckDB fails: {self.load_error}")

    def sync(self, timeout: float = 30.0) -> bool:
        """Block until everything journaled so far is in DuckDB (for readers that must see the latest events)."""
        target = self.link.end
        if self.link.shipped < target:
            self.link.ship(timeout)
        return self._wait_loaded(target, timeout)

    def seal_off(self, timeout: float = 30.0) -> bool:
        """Load the journal into DuckDB, then delete it: nothing written before this call stays in the journal.

        Called after an erasure, so that the erased visitor's events do not outlive it there (sealed, but
        readable with the database key) until the segment would have filled up and rotated.
        """
        ended = self.link.rotate(timeout)
        if ended is None or not self._wait_loaded(ended, timeout):
            return False
        self.journal.drop_before(Position(ended.segment + 1, 0))  # the journal may have moved on since
        return True

    def _durable(self, batch: bytes, count: int, end: Position) -> None:
        with self._cond:
            self._pending.append((batch, count, end))
            self._pending_rows += count
            if self._pending_rows >= self.batch_events:
                self._cond.notify_all()

    def _wait_loaded(self, target: Position, timeout: float) -> bool:
        with self._cond:
            self._urgent = True
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: (self._loaded >= target and not self._drops and not self._busy) or self.load_error is not None,
                timeout,
            )

    def close(self) -> None:
        """Stop taking events, journal what is queued, load everything, and stop the process and the thread."""
        if self.link.closed:
            return
        self.link.close()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._loader_thread.join()

    def _load_loop(self) -> None:
        while True:
            with self._cond:
                # Few large transactions: DuckDB's cost is per commit. Readers that need the latest
                # events call sync(), which wakes this loop at once.
                self._cond.wait_for(
                    lambda: self._stopping or self._urgent or self._pending_rows >= self.batch_events,
                    timeout=self.load_interval,
                )
                self._urgent = False
                if not self._pending and not self._drops:
                    if self._stopping:
                        return
                    continue
                taken: list[tuple[bytes, int, Position]] = []
                count = 0
                while self._pending and count < self.batch_events:
                    taken.append(self._pending.pop(0))
                    count += taken[-1][1]
                position = taken[-1][2] if taken else None
                self._pending_rows -= count
                drops, self._drops = self._drops, Counter()
                self._busy = True
            started = time.perf_counter()
            try:
                tables = [decode(batch) for batch, _, _ in taken]  # Arrow buffers: next to nothing to do here
                with self.db_lock:
                    load_rows(self.con, pa.concat_tables(tables) if tables else [], position, self.hooks, drops)
            except Exception as exc:
                self.stats.load_failures += 1
                self.load_error = str(exc)
                log.error("loading %d events into DuckDB failed; retrying: %s", count, exc)
                with self._cond:
                    self._busy = False
                    self._pending[:0] = taken
                    self._pending_rows += count
                    self._drops.update(drops)
                    if self._stopping:
                        return  # the journal keeps them: the next start replays them
                time.sleep(0.5)
                continue
            self.load_error = None
            self.stats.loads += 1
            self.stats.loaded_events += count
            self.stats.load_ms_total += (time.perf_counter() - started) * 1000
            with self._cond:
                self._busy = False
                if position is not None:
                    self._loaded = position
                self._cond.notify_all()
            if position is not None:
                self.journal.drop_before(position)


def replay(
    con: duckdb.DuckDBPyConnection,
    journal: Journal,
    sealer: Sealer,
    damaged: Callable[[Damage], object] = lambda damage: None,
    batch_rows: int = 20_000,
) -> int:
    """Load every journal record not yet in the database (after a crash); return the events loaded.

    A segment with damaged records is set aside first (collector.durable.salvage), with one log line;
    its readable records are loaded with the rest."""
    start = Position(*stored_position(con))
    for damage in salvage(journal, start):
        log.error(
            "journal segment %010d is damaged: %d record(s) lost, %d kept; set aside as %s",
            damage.segment,
            damage.records_lost,
            damage.records_kept,
            damage.set_aside,
            extra={"records_lost": damage.records_lost, "records_kept": damage.records_kept},
        )
        damaged(damage)
    journal.truncate_torn_tail()
    rows: list[Row] = []
    position: Position | None = None
    loaded = 0
    for position, payload in journal.read_from(start):
        rows.extend(tuple(r) for r in orjson.loads(sealer.open(payload)))
        if len(rows) >= batch_rows:
            load_rows(con, rows, position)
            loaded += len(rows)
            rows = []
    if position is not None:
        load_rows(con, rows, position)
        loaded += len(rows)
        journal.drop_before(position)
    return loaded
