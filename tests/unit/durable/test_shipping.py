"""Rows from the journal process to the loader: Arrow batches, and JSON for rows Arrow refuses."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from collector.durable.shipping import SHIP_ROWS, Shipper, decode, encode
from collector.storage.rows import SCHEMA, rows_to_table, to_row
from tests.integration.durable.test_journal import event


def test_a_batch_decodes_to_the_table_the_rows_make() -> None:
    rows = [to_row(event("/a")), to_row(event("/bb"))]
    data = encode(rows)
    assert data[:1] == b"A"
    assert decode(data).equals(rows_to_table(rows))
    assert decode(data).schema == SCHEMA


def test_rows_arrow_refuses_travel_as_json_and_fail_only_when_loaded(caplog: pytest.LogCaptureFixture) -> None:
    data = encode([("not", "an", "events", "row")])
    assert data[:1] == b"J"
    assert "shipping them as JSON" in caplog.text
    with pytest.raises((pa.ArrowException, ValueError)):
        decode(data)


def test_a_batch_is_due_when_full_or_when_its_first_row_has_waited_long_enough() -> None:
    shipper = Shipper(seconds=60)
    assert shipper.wait() is None and not shipper.due()
    shipper.add([to_row(event("/a"))])
    assert not shipper.due() and 59 < (shipper.wait() or 0) <= 60
    shipper.add([to_row(event("/a"))] * (SHIP_ROWS - 1))
    assert shipper.due()
    count, data = shipper.take()
    assert count == SHIP_ROWS and decode(data).num_rows == SHIP_ROWS
    assert shipper.rows == [] and shipper.wait() is None

    quick = Shipper(seconds=0.01)
    quick.add([to_row(event("/a"))])
    time.sleep(0.02)
    assert quick.due() and quick.wait() == 0.0
