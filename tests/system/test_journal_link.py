from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import orjson
import pytest

from collector.durable.commits import CommitStats, WriteFailed
from collector.durable.journal import Journal, Position, Sealer
from collector.durable.link import JournalLink
from collector.durable.process import journal_lock
from collector.durable.shipping import decode
from collector.durable.zygote import exited
from collector.storage.rows import SCHEMA, to_row
from tests.conftest import LiveServer, make_settings
from tests.integration.durable.rows_handler import Rows, rows_request
from tests.integration.durable.test_journal import event

KEY = "k" * 64
PATH = SCHEMA.names.index("path")


def paths(batch: bytes) -> list[str]:
    return [str(p) for p in decode(batch).column("path").to_pylist()]


def test_the_journal_process_never_sees_the_database_key_on_its_command_line_or_in_its_environment(
    tmp_path: Path,
) -> None:
    server = LiveServer(make_settings(tmp_path)).start()
    try:
        assert server.live.runtime is not None and server.live.writer is not None
        database_key = server.live.runtime.database_key
        assert database_key
        pid = server.live.writer.link.pid
        assert pid is not None
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    finally:
        server.stop()
    assert database_key.encode() not in cmdline
    assert database_key.encode() not in environ


def test_without_an_event_loop_a_rotation_still_reaches_the_process_and_sealed_records_read_back(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "journal"
    durable: list[tuple[bytes, int, Position]] = []
    link = JournalLink(Journal(folder), Sealer(KEY), lambda *batch: durable.append(batch), CommitStats(), Rows())
    link.start()
    try:
        asyncio.run(link.submit(rows_request([to_row(event("/a")), to_row(event("/bb"))])))
        ended = link.rotate(timeout=10)  # that loop is gone: the link talks to the process directly
        asyncio.run(link.submit(rows_request([to_row(event("/ccc"))])))  # and binds the next loop
    finally:
        link.close()
    assert ended is not None and ended.segment == 1
    # Shipped before the rotation and before the process exits, each batch with the journal position it ends at.
    assert [(paths(batch), count) for batch, count, _ in durable] == [(["/a", "/bb"], 2), (["/ccc"], 1)]
    assert durable[0][2] == ended and durable[1][2].segment == 2
    records = [orjson.loads(Sealer(KEY).open(p)) for _, p in Journal(folder).read_from(Position(0, 0))]
    assert [[row[PATH] for row in record] for record in records] == [["/a", "/bb"], ["/ccc"]]


def test_a_new_journal_process_first_ships_what_a_killed_one_had_appended_but_not_shipped(tmp_path: Path) -> None:
    durable: list[tuple[bytes, int, Position]] = []
    link = JournalLink(
        Journal(tmp_path / "journal"),
        Sealer(KEY),
        lambda *batch: durable.append(batch),
        CommitStats(),
        Rows(),
        ship_seconds=60,
    )
    link.start()
    try:
        # Durable, not due for a minute:
        asyncio.run(link.submit(rows_request([to_row(event("/a")), to_row(event("/bb"))])))
        assert durable == []
        killed = link.pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        assert exited(killed, 10)
        with pytest.raises(WriteFailed):
            asyncio.run(link.submit(rows_request([to_row(event("/ccc"))])))  # the link learns the process is gone
        asyncio.run(link.submit(rows_request([to_row(event("/dddd"))])))  # a new process: it ships /a and /bb first
        assert link.pid != killed
        assert [paths(batch) for batch, _, _ in durable] == [["/a", "/bb"]]
    finally:
        link.close()
    shipped = [p for batch, _, _ in durable for p in paths(batch)]
    assert shipped == ["/a", "/bb", "/dddd"]  # /ccc never reached a process
    assert durable[-1][2] == link.end


def test_a_journal_still_held_by_another_process_is_a_clear_start_up_error(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    with journal_lock(folder):
        link = JournalLink(Journal(folder), Sealer(None), lambda *batch: None, CommitStats(), Rows(), lock_wait=0.5)
        with pytest.raises(WriteFailed, match="did not start"):
            link.start()
