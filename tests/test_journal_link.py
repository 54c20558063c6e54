from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collector.commits import CommitStats, WriteFailed
from collector.journal import Journal, Position, Sealer
from collector.journal_link import JournalLink, Row
from collector.journald import journal_lock
from tests.conftest import LiveServer, make_settings

KEY = "k" * 64


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
    durable: list[tuple[list[Row] | bytes, Position]] = []
    link = JournalLink(
        Journal(folder), Sealer(KEY), lambda rows, count, end: durable.append((rows, end)), CommitStats()
    )
    link.start()
    try:
        asyncio.run(link.write([("a", 1), ("b", 2)]))
        ended = link.rotate(timeout=10)  # that loop is gone: the link talks to the process directly
        asyncio.run(link.write([("c", 3)]))  # and binds the next loop
    finally:
        link.close()
    assert ended is not None and ended.segment == 1
    assert [rows for rows, _ in durable] == [[("a", 1), ("b", 2)], [("c", 3)]]
    assert durable[1][1].segment == 2
    records = [Sealer(KEY).open(p) for _, p in Journal(folder).read_from(Position(0, 0))]
    assert records == [b'[["a",1],["b",2]]', b'[["c",3]]']


def test_a_journal_still_held_by_another_process_is_a_clear_start_up_error(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    with journal_lock(folder):
        link = JournalLink(Journal(folder), Sealer(None), lambda rows, count, end: None, CommitStats(), lock_wait=0.5)
        with pytest.raises(WriteFailed, match="did not start"):
            link.start()
