"""The events table's inserts: one DuckDB transaction per Arrow batch, with its hooks and drop counts.

Used by the writer's loader thread, by the scale-out loader (batches straight from the stream) and by
the CLI when it opens the file itself. DuckDB takes 200,000+ rows/s from an Arrow table against ~2,000
through executemany, so every insert goes through one.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Sequence

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from collector.events import ENGAGEMENT
from collector.storage.rows import DayDrop, Row, rows_to_table

# BY NAME: later migrations may add columns with defaults without touching this statement.
_INSERT = "INSERT INTO events BY NAME SELECT * FROM _batch"
UPSERT_DROPS = "INSERT INTO drops VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET events = drops.events + EXCLUDED.events"
_SAVE_POSITION = 'UPDATE journal_state SET segment = ?, "offset" = ? WHERE id = 1'
# Engagement reports travel as events named ENGAGEMENT with props {"sd", "e"}; they are stored apart.
_INSERT_ENGAGEMENT = (
    "INSERT INTO engagement SELECT event_id::UUID, ts, site, hostname, path, visitor, consented, anonymous,"
    " (props::JSON ->> 'sd')::SMALLINT, (props::JSON ->> 'e')::BIGINT FROM _engagement"
)
# Runs inside each load transaction while the batch is registered as the view `_batch`.
BatchHook = Callable[[duckdb.DuckDBPyConnection], None]
# Where a journal record ends, (segment, offset): the loader stores it with the rows it loaded.
Mark = tuple[int, int]


def _insert(con: duckdb.DuckDBPyConnection, table: pa.Table, hooks: Sequence[BatchHook]) -> None:
    """Insert the table into events, running the hooks while it is registered as `_batch`."""
    table = _store_engagement(con, table)
    if not table.num_rows:
        return
    con.register("_batch", table)
    try:
        con.execute(_INSERT)
        for hook in hooks:
            hook(con)
    finally:
        con.unregister("_batch")


def _store_engagement(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Table:
    """Insert the table's engagement reports into their own table; return the other rows."""
    reports = pc.equal(table.column("name"), ENGAGEMENT)
    if not pc.any(reports).as_py():
        return table
    con.register("_engagement", table.filter(reports))
    try:
        con.execute(_INSERT_ENGAGEMENT)
    finally:
        con.unregister("_engagement")
    return table.filter(pc.invert(reports))


def load_rows(
    con: duckdb.DuckDBPyConnection,
    rows: Sequence[Row] | pa.Table,
    position: Mark | None,
    hooks: Sequence[BatchHook] = (),
    drops: Counter[DayDrop] | None = None,
) -> None:
    """Insert rows (and the journal position they end at) in one DuckDB transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        if len(rows):
            _insert(con, rows if isinstance(rows, pa.Table) else rows_to_table(rows), hooks)
        if drops:
            con.executemany(UPSERT_DROPS, [[s, d, r.value, n] for (s, d, r), n in drops.items()])
        if position is not None:
            con.execute(_SAVE_POSITION, list(position))
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise


_STORED_IDS = (
    "SELECT event_id::VARCHAR FROM events WHERE ts BETWEEN ? AND ? AND event_id IN (SELECT id::UUID FROM _ids)"
)


def load_unseen(con: duckdb.DuckDBPyConnection, table: pa.Table, hooks: Sequence[BatchHook] = ()) -> int:
    """Insert the events of `table` not stored yet, in one transaction with the hooks; return how many were new.

    A stream message delivered again (its ack lost in a crash) holds events already stored: they are
    recognised by event id, looked up only within the table's time range. The ids must be distinct
    (first_occurrences): the stream loader de-duplicates the next batch while this one commits.
    """
    ids = table.column("event_id")
    con.execute("BEGIN TRANSACTION")
    try:
        if table.num_rows:
            span = pc.min_max(table.column("ts"))
            con.register("_ids", pa.table({"id": ids}))
            try:
                stored = con.execute(_STORED_IDS, [span["min"].as_py(), span["max"].as_py()]).fetchall()
            finally:
                con.unregister("_ids")
            if stored:
                table = table.filter(pc.invert(pc.is_in(ids, pa.array([r[0] for r in stored], pa.string()))))
        if table.num_rows:
            _insert(con, table, hooks)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    return int(table.num_rows)


def stored_position(con: duckdb.DuckDBPyConnection) -> Mark:
    """Where the journal records loaded so far end."""
    row = con.execute('SELECT segment, "offset" FROM journal_state WHERE id = 1').fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)
