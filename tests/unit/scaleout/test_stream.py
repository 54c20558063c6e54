"""Stream message formats: what ingest nodes publish and what the loader reads back (no NATS needed here)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pytest

from collector.events import Event, Request
from collector.ingest.parsing import build_event, new_event_id
from collector.scaleout.stream import ARROW_MIN_EVENTS, BadMessage, decode, encode, encode_arrow, encode_json
from collector.storage.rows import SCHEMA, columns_to_table, to_row
from tests.clusterlib import UA


def make_events(count: int) -> list[Event]:
    request = Request(ip="198.51.100.77", user_agent=UA, hints={}, gpc=False, prefetch=False)
    raw = {"d": "example.com", "u": "https://example.com/a?utm_source=news", "w": 390, "p": {"plan": "pro"}}
    base = build_event(raw | {"id": "consented-visitor-42"}, None, request, datetime.now(UTC))
    return [
        base._replace(event_id=new_event_id(), path=f"/s/{i}", referrer_host=None if i % 2 else "news.example")
        for i in range(count)
    ]


def test_large_groups_go_as_arrow_and_small_ones_as_json_columns() -> None:
    few, many = make_events(ARROW_MIN_EVENTS - 1), make_events(ARROW_MIN_EVENTS)
    assert orjson.loads(encode(few))["v"] == 2
    assert decode(encode(few)) == [list(column) for column in zip(*map(to_row, few), strict=True)]
    table = decode(encode(many))
    assert isinstance(table, pa.Table)
    assert table.schema.equals(SCHEMA)
    assert table.equals(columns_to_table(list(zip(*map(to_row, many), strict=True))))


def test_arrow_messages_hold_only_stored_columns() -> None:
    events = make_events(3)
    payload = encode_arrow(events)
    for secret in (b"198.51.100.77", UA.encode(), b"Chrome/124", b"consented-visitor-42"):
        assert secret not in payload
    table = decode(payload)
    assert isinstance(table, pa.Table)
    assert table.equals(columns_to_table(list(zip(*map(to_row, events), strict=True))))


def test_arrow_message_of_a_newer_node_with_another_column_order_and_an_extra_column_is_read() -> None:
    events = make_events(4)
    table = decode(encode_arrow(events))
    assert isinstance(table, pa.Table)
    newer = table.select(list(reversed(SCHEMA.names))).append_column("new_column", pa.array([1, 2, 3, 4]))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, newer.schema) as writer:
        writer.write_table(newer)
    read = decode(sink.getvalue().to_pybytes())
    assert isinstance(read, pa.Table)
    assert read.equals(table)


def test_unreadable_messages_are_bad_messages() -> None:
    arrow = encode_arrow(make_events(2))
    missing = decode(arrow)
    assert isinstance(missing, pa.Table)
    sink = pa.BufferOutputStream()
    without_ts = missing.drop_columns(["ts"])
    with pa.ipc.new_stream(sink, without_ts.schema) as writer:
        writer.write_table(without_ts)
    for payload in (
        arrow[: len(arrow) // 2],  # cut short
        arrow[:-40],
        sink.getvalue().to_pybytes(),  # a stored column missing
        b"\xff\xff\xff\xffnot arrow at all",
        orjson.dumps({"v": 9, "c": []}),
        b"{not json",
        orjson.dumps({"v": 2, "c": [["a"], ["b", "c"]]}),
    ):
        with pytest.raises(BadMessage):
            decode(payload)
    assert encode_json(make_events(1)).startswith(b"{")
