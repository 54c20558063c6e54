"""The journal process's loop, on a real socket pair and a real journal, in a thread of the test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from collector.durable.journal import Journal, Sealer
from collector.durable.process import _run
from collector.durable.shipping import Shipper
from collector.durable.wire import Frame, Kind, decode, dump_requests, encode
from collector.storage.rows import to_row
from tests.integration.durable.rows_handler import RowsHandler, rows_request
from tests.integration.durable.test_journal import event
from tests.system.test_journal_link import paths


def answers(sock: socket.socket, count: int, failures: list[BaseException]) -> list[Frame]:
    buffer = bytearray()
    found: list[Frame] = []
    while len(found) < count:
        data = sock.recv(1 << 16)
        assert data, f"the journal process's loop ended early: {failures!r}"
        buffer += data
        found += decode(buffer)
    return found


def test_rows_that_fall_due_between_two_looks_at_the_clock_are_shipped_and_the_loop_goes_on(tmp_path: Path) -> None:
    # Under load the batch can become due after _handle saw it was not, and before the loop asks how long
    # to wait: the wait is then 0.0, and settimeout(0.0) made the next recv non-blocking. It raised
    # BlockingIOError and the journal process died with its in-flight requests (503s in bench/ingest.py).
    ticks: Iterator[float] = iter([0.0, 0.05, 0.1])  # add() stamps the batch, due() says no, wait() says 0.0

    def clock() -> float:
        return next(ticks, 10.0)

    server, process = socket.socketpair()
    journal = Journal(tmp_path / "journal")
    failures: list[BaseException] = []

    def loop() -> None:
        try:
            _run(process, bytearray(), journal, Sealer(None), Shipper(0.1, clock), RowsHandler())
        except BaseException as exc:
            failures.append(exc)
        finally:
            process.close()  # as run() does: the server sees the socket close

    thread = threading.Thread(target=loop)
    thread.start()
    with server:
        server.settimeout(10)
        server.sendall(encode(Kind.REQUESTS, 1, dump_requests([rows_request([to_row(event("/due"))])])))
        done, rows = answers(server, 2, failures)
        assert (done.kind, done.seq) == (Kind.DONE, 1)
        assert (rows.kind, rows.seq) == (Kind.ROWS, 1)
        assert paths(rows.payload) == ["/due"]
        server.sendall(encode(Kind.STOP, 2))  # the loop still takes frames, and stops when told
        thread.join(10)
    journal.close()
    assert not thread.is_alive() and failures == []
