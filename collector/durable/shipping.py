"""Rows on their way from the journal process to the server's DuckDB loader, as large Arrow batches.

Turning rows into an Arrow table costs about 4 us a row (decoding included). Done in the server, it
would run on the loader thread, under the GIL the event loop needs, in bursts of several milliseconds at
every load: the ingest p99 is 12 ms with loading switched off and 22 ms with conversion in the server
(docs/benchmarks.md). The journal process has the rows as Python objects already, so it converts them
there, once per SHIP_ROWS rows or SHIP_SECONDS (a reader that must see them asks sooner: SHIP), and
the server only maps the Arrow buffer.

Everything the journal process appends is shipped, in journal order, each batch with the journal
position it ends at. A replacement journal process first ships what its predecessor appended after
the last batch the server received, so a crash between an acknowledgement and its batch loses nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pyarrow as pa

from collector.durable.wire import SHIP_SECONDS
from collector.storage.rows import from_ipc, rows_to_table, to_ipc

log = logging.getLogger("collector.shipping")
SHIP_ROWS = 2048
_ARROW, _JSON = b"A", b"J"
Row = Sequence[Any]


class Shipper:
    """The rows appended since the last batch, and when the first of them was."""

    def __init__(self, seconds: float = SHIP_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.rows: list[Row] = []
        self.since = 0.0

    def add(self, rows: Sequence[Row]) -> None:
        if rows and not self.rows:
            self.since = self.clock()
        self.rows.extend(rows)

    def due(self) -> bool:
        return len(self.rows) >= SHIP_ROWS or (bool(self.rows) and self.clock() - self.since >= self.seconds)

    def wait(self) -> float | None:
        """Seconds until the batch is due (0.0 once it is); None while there is nothing to ship."""
        return max(0.0, self.since + self.seconds - self.clock()) if self.rows else None

    def take(self) -> tuple[int, bytes]:
        rows, self.rows = self.rows, []
        return len(rows), encode(rows)


def encode(rows: Sequence[Row]) -> bytes:
    try:
        return _ARROW + to_ipc(rows)
    except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
        # The rows are durable in the journal either way: the server's loader gets them as JSON and
        # reports its own error, which /healthz shows, rather than this process losing them.
        log.error("rows could not be converted to Arrow (%s); shipping them as JSON", type(exc).__name__)
        return _JSON + orjson.dumps(rows)


def decode(data: bytes) -> pa.Table:
    """A batch as the loader inserts it; raises (as the insert would) for rows that do not fit the table."""
    if data[:1] == _ARROW:
        return from_ipc(data[1:])
    return rows_to_table([tuple(r) for r in orjson.loads(data[1:])])
