"""A journal process handler for tests of the durable mechanism alone: each request's body is a JSON array of rows.

Every request is stored (202); the journal process unpickles the spec, so it lives in an importable module.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from collector.durable.counts import Report
from collector.durable.wire import Answers, RawRequest, dump, load_requests
from collector.storage.rows import Row


def rows_request(rows: list[Row]) -> RawRequest:
    return (None, {}, orjson.dumps(rows))


class RowsHandler:
    def handle(self, payload: bytes) -> tuple[list[Row], bytes]:
        requests = load_requests(payload)
        rows = [tuple(row) for _, _, body in requests for row in orjson.loads(body)]
        report = Report(len(rows), None, None, None, 0, 0, 0, True)
        return rows, dump(Answers([None] * len(requests), report))

    def update(self, payload: bytes) -> None:
        pass


@dataclass(frozen=True)
class RowsSpec:
    preload: str | None = None

    def open(self) -> RowsHandler:
        return RowsHandler()


class Rows:
    """The server's side: nothing ever changes."""

    def spec(self) -> RowsSpec:
        return RowsSpec()

    def changes(self) -> bytes | None:
        return None
