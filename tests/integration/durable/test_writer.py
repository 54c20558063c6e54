"""The writer: replay at start, then the journal process and the loader."""

from __future__ import annotations

from pathlib import Path

import orjson

from collector.durable.journal import Journal, Sealer
from collector.durable.writer import Writer
from collector.http.runtime import open_journal, open_runtime
from collector.storage import store
from collector.storage.rows import to_row
from tests.conftest import make_settings
from tests.integration.durable.rows_handler import Rows
from tests.integration.durable.test_journal import event


def test_what_a_leftover_journal_process_appends_after_the_server_opened_the_journal_is_loaded_once(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    runtime = open_runtime(settings)
    try:
        sealer = Sealer(runtime.database_key)
        journal = open_journal(settings)  # the server opens the journal, and only then waits for its lock ...
        leftover = Journal(settings.journal_path, segment_bytes=1)  # ... which a killed server's process holds
        leftover.append([sealer.seal(orjson.dumps([to_row(event("/first"))]))])
        leftover.append([sealer.seal(orjson.dumps([to_row(event("/second-segment"))]))])  # a new segment
        leftover.close()
        writer = Writer(runtime.con, journal, sealer, Rows())
        writer.start()
        writer.close()
        cur = store.cursor(runtime.con)
        paths = sorted(row[0] for row in cur.execute("SELECT path FROM events").fetchall())
        cur.close()
    finally:
        runtime.con.close()
    assert paths == ["/first", "/second-segment"]
