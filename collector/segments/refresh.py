"""The scheduler that keeps the in-memory segment index fresh: refresh on each definition's interval.

Every tick (a second) it refreshes the definitions that are due, or, when none is, checks whether
another process (an erasure, `collector segments refresh`) changed the stored members and re-reads
them. Lookups (api.py) only ever read `index`, which is swapped in one assignment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import anyio.to_thread
import duckdb

from collector.http.tasks import stop
from collector.segments.definitions import Definition, load_definitions, refresh, signature
from collector.segments.index import SegmentIndex, build_index, updated_index
from collector.settings import Settings
from collector.storage import store

log = logging.getLogger("collector.segments")

TICK_SECONDS = 1.0
CHANGES_MEMBERS = frozenset({"segments.refresh", "erase"})  # admin operations; erase also unlinks accounts
T = TypeVar("T")


class SegmentRefresher:
    def __init__(
        self,
        settings: Settings,
        con: duckdb.DuckDBPyConnection,
        definitions: list[Definition] | None = None,
        sync: Callable[[], object] | None = None,
    ) -> None:
        self.settings = settings
        self.con = con
        self.sync = sync  # waits until every acknowledged event is in DuckDB
        self.definitions = load_definitions() if definitions is None else definitions
        self.index = SegmentIndex()
        self._next_due: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await anyio.to_thread.run_sync(self.rebuild)
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        await stop(self._task)
        self._task = None

    def with_cursor(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        cur = store.cursor(self.con)
        try:
            return fn(cur)
        finally:
            cur.close()

    def rebuild(self) -> SegmentIndex:
        index = self.with_cursor(build_index)
        self.index = index
        return index

    def refresh_now(self, now: datetime | None = None, only: set[str] | None = None) -> list[dict[str, Any]]:
        """Refresh definitions (all by default) for every site, then swap in a new index. Blocking."""
        sites = [s.domain for s in self.settings.sites]
        if self.sync is not None:
            self.sync()  # a refresh sees every event acknowledged before it

        def run(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
            index = self.index
            results = refresh(cur, sites, self.definitions, now, only, (index.signature, index.sets))
            self.index = updated_index(cur, index, results)
            return [r.summary() for r in results]

        return self.with_cursor(run)

    def settle(self, op: str) -> None:
        """After an admin operation: re-read the members if it changed them (`collector segments refresh`,
        an erasure), so that lookups show its result once the command has returned. Blocking."""
        if op in CHANGES_MEMBERS or self.with_cursor(signature) != self.index.signature:
            self.rebuild()

    def forget(self, site: str, visitor: int) -> None:
        """Drop an erased visitor from every lookup at once."""
        self.index.forget(site, visitor)

    async def _loop(self) -> None:
        while True:
            try:
                await anyio.to_thread.run_sync(self._tick)
            except Exception:
                log.exception("segment refresh failed")
            await asyncio.sleep(TICK_SECONDS)

    def _tick(self) -> None:
        now = time.monotonic()
        due = {d.file for d in self.definitions if self._next_due.get(d.file, 0.0) <= now}
        if due:
            started = time.perf_counter()
            self.refresh_now(only=None if len(due) == len(self.definitions) else due)
            for d in self.definitions:
                if d.file in due:
                    self._next_due[d.file] = now + d.refresh_seconds
            log.info(
                "segments refreshed",
                extra={"definitions": len(due), "ms": round((time.perf_counter() - started) * 1000, 1)},
            )
        elif self.with_cursor(signature) != self.index.signature:
            # A refresh through the CLI, or an erasure, changed the members: read them again.
            self.rebuild()
