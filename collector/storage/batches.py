"""The events table as Arrow batches: rows from events, one DuckDB transaction per batch, journal replay.

Used by the writer's loader thread, by the scale-out loader (batches straight from the stream) and by
the CLI when it opens the file itself. DuckDB takes 200,000+ rows/s from an Arrow table against ~2,000
through executemany, so every insert goes through one.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from collector.durable.journal import Journal, Position, Sealer
from collector.events import DropReason, Event

SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("ts", pa.timestamp("us")),
        ("site", pa.string()),
        ("name", pa.string()),
        ("hostname", pa.string()),
        ("path", pa.string()),
        ("referrer_host", pa.string()),
        ("utm_source", pa.string()),
        ("utm_medium", pa.string()),
        ("utm_campaign", pa.string()),
        ("utm_term", pa.string()),
        ("utm_content", pa.string()),
        ("visitor", pa.uint64()),
        ("consented", pa.bool_()),
        ("anonymous", pa.bool_()),
        ("device_type", pa.string()),
        ("device_brand", pa.string()),
        ("device_model", pa.string()),
        ("device_code", pa.string()),
        ("os_name", pa.string()),
        ("os_version", pa.string()),
        ("browser_name", pa.string()),
        ("browser_version", pa.string()),
        ("screen_w", pa.int32()),
        ("screen_h", pa.int32()),
        ("language", pa.string()),
        ("timezone", pa.string()),
        ("props", pa.string()),
    ]
)
# BY NAME: later migrations may add columns with defaults without touching this statement.
_INSERT = "INSERT INTO events BY NAME SELECT * FROM _batch"
UPSERT_DROPS = "INSERT INTO drops VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET events = drops.events + EXCLUDED.events"
_SAVE_POSITION = 'UPDATE journal_state SET segment = ?, "offset" = ? WHERE id = 1'
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = datetime.resolution

Row = tuple[Any, ...]
# Runs inside each load transaction while the batch is registered as the view `_batch`.
BatchHook = Callable[[duckdb.DuckDBPyConnection], None]


def to_row(e: Event) -> Row:
    utm = e.utm
    micros = (e.ts - _EPOCH) // _MICRO
    props = orjson.dumps(e.props).decode() if e.props else None
    return (
        e.event_id, micros, e.site, e.name, e.hostname, e.path, e.referrer_host,
        utm.get("utm_source"), utm.get("utm_medium"), utm.get("utm_campaign"), utm.get("utm_term"),
        utm.get("utm_content"), e.visitor, e.consented, e.anonymous, e.device_type, e.device_brand,
        e.device_model, e.device_code, e.os_name, e.os_version, e.browser_name, e.browser_version,
        e.screen_w, e.screen_h, e.language, e.timezone, props,
    )  # fmt: skip


def rows_to_table(rows: Sequence[Sequence[Any]]) -> pa.Table:
    return columns_to_table(list(zip(*rows, strict=True)) if rows else [()] * len(SCHEMA))


def to_ipc(rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows as an Arrow IPC stream: how the journal process hands the server a batch to load."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, SCHEMA) as stream:
        stream.write_table(rows_to_table(rows))
    data: bytes = sink.getvalue().to_pybytes()
    return data


def from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def columns_to_table(columns: Sequence[Sequence[Any]]) -> pa.Table:
    """Columns in SCHEMA order (the scale-out stream's) as an Arrow table."""
    return pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, SCHEMA, strict=True)], schema=SCHEMA)


def _insert(con: duckdb.DuckDBPyConnection, table: pa.Table, hooks: Sequence[BatchHook]) -> None:
    """Insert the table into events, running the hooks while it is registered as `_batch`."""
    con.register("_batch", table)
    try:
        con.execute(_INSERT)
        for hook in hooks:
            hook(con)
    finally:
        con.unregister("_batch")


def load_rows(
    con: duckdb.DuckDBPyConnection,
    rows: Sequence[Row] | pa.Table,
    position: Position | None,
    hooks: Sequence[BatchHook] = (),
    drops: Counter[tuple[str, str, DropReason]] | None = None,
) -> None:
    """Insert rows (and the journal position they end at) in one DuckDB transaction."""
    con.execute("BEGIN TRANSACTION")
    try:
        if len(rows):
            _insert(con, rows if isinstance(rows, pa.Table) else rows_to_table(rows), hooks)
        if drops:
            con.executemany(UPSERT_DROPS, [[s, d, r.value, n] for (s, d, r), n in drops.items()])
        if position is not None:
            con.execute(_SAVE_POSITION, [position.segment, position.offset])
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise


_STORED_IDS = (
    "SELECT event_id::VARCHAR FROM events WHERE ts BETWEEN ? AND ? AND event_id IN (SELECT id::UUID FROM _ids)"
)


def first_occurrences(table: pa.Table) -> pa.Table:
    """The table without the rows whose event id came earlier in it."""
    ids = table.column("event_id")
    if pc.count_distinct(ids).as_py() < table.num_rows:
        return table.take(pa.array(_first_occurrences(ids.to_pylist()), pa.int64()))
    return table


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


def _first_occurrences(values: list[Any]) -> list[int]:
    first: dict[Any, int] = {}
    for i, v in enumerate(values):
        first.setdefault(v, i)
    return sorted(first.values())


def stored_position(con: duckdb.DuckDBPyConnection) -> Position:
    row = con.execute('SELECT segment, "offset" FROM journal_state WHERE id = 1').fetchone()
    return Position(int(row[0]), int(row[1])) if row else Position(0, 0)


def replay(con: duckdb.DuckDBPyConnection, journal: Journal, sealer: Sealer, batch_rows: int = 20_000) -> int:
    """Load every journal record not yet in the database (after a crash); return the events loaded."""
    journal.truncate_torn_tail()
    rows: list[Row] = []
    position: Position | None = None
    loaded = 0
    for position, payload in journal.read_from(stored_position(con)):
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
