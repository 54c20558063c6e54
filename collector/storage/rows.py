"""An event as a stored row, and rows as Arrow tables: the events table's columns, free of any database.

The journal process ships rows to the loader as Arrow IPC streams, a scale-out ingest node publishes
them to the stream, and the loaders insert them (batches.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

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
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = datetime.resolution

Row = tuple[Any, ...]
# What a drop is counted under in the database: (site, UTC day, reason).
DayDrop = tuple[str, str, DropReason]


def day_drop(site: str, reason: DropReason) -> DayDrop:
    return (site, datetime.now(UTC).date().isoformat(), reason)


def to_row(e: Event) -> Row:
    utm, d = e.utm, e.device
    micros = (e.ts - _EPOCH) // _MICRO
    props = orjson.dumps(e.props).decode() if e.props else None
    return (
        e.event_id, micros, e.site, e.name, e.hostname, e.path, e.referrer_host,
        utm.get("utm_source"), utm.get("utm_medium"), utm.get("utm_campaign"), utm.get("utm_term"),
        utm.get("utm_content"), e.visitor, e.consented, e.anonymous, d.device_type, d.device_brand,
        d.device_model, d.device_code, d.os_name, d.os_version, d.browser_name, d.browser_version,
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


def first_occurrences(table: pa.Table) -> pa.Table:
    """The table without the rows whose event id came earlier in it."""
    ids = table.column("event_id")
    if pc.count_distinct(ids).as_py() < table.num_rows:
        return table.take(pa.array(_first_occurrences(ids.to_pylist()), pa.int64()))
    return table


def _first_occurrences(values: list[Any]) -> list[int]:
    first: dict[Any, int] = {}
    for i, v in enumerate(values):
        first.setdefault(v, i)
    return sorted(first.values())
