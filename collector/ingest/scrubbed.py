"""Scrubbing counts (what the pipeline replaced, per site, day, kind and field) stored in the load
transaction of the events they came with, so a count never outlives or precedes its events."""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from collector.ingest.pipeline.scrub import ScrubCounts

_UPSERT_SCRUBBED = (
    "INSERT INTO scrubbed VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET hits = scrubbed.hits + EXCLUDED.hits"
)


def scrubbed_hook(counts: ScrubCounts) -> Callable[[duckdb.DuckDBPyConnection], None]:
    """A writer hook: store the scrubbing counts in the load transaction of the events they came with."""

    def write_scrubbed(con: duckdb.DuckDBPyConnection) -> None:
        taken = counts.take()
        if not taken:
            return
        try:
            con.executemany(_UPSERT_SCRUBBED, [[s, d, k, f, n] for (s, d, k, f), n in taken.items()])
        except BaseException:
            counts.put_back(taken)
            raise

    return write_scrubbed
