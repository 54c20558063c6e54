"""The real server starts on a journal with a damaged record mid-segment: it loads every readable record, sets
the segment aside, says so in one log line and in `collector status`, and takes events again."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import orjson

from collector.durable.journal import Journal, Sealer
from collector.http.runtime import open_runtime
from collector.storage.rows import to_row
from tests.conftest import DESKTOP_UA, make_settings
from tests.integration.durable.test_journal import event
from tests.system.test_durability import ServerProcess


def test_a_server_starts_on_a_damaged_journal_and_says_what_was_lost(
    proc_server: ServerProcess, tmp_path: Path
) -> None:
    runtime = open_runtime(make_settings(tmp_path))  # the server's data directory: keys, database
    sealer = Sealer(runtime.database_key)
    runtime.close()
    journal = Journal(proc_server.data_dir / "journal")
    journal.append([sealer.seal(orjson.dumps([to_row(event("/before"))]))])
    damaged = journal.append([sealer.seal(orjson.dumps([to_row(event("/damaged"))]))])
    journal.append([sealer.seal(orjson.dumps([to_row(event("/after"))]))])
    journal.close()
    segment = proc_server.data_dir / "journal" / "0000000001.log"
    data = bytearray(segment.read_bytes())
    data[damaged.offset - 5] ^= 0x20  # one flipped bit in the middle record's payload
    segment.write_bytes(bytes(data))

    proc_server.start()
    r = httpx.post(
        f"{proc_server.url}/api/event",
        content=orjson.dumps({"d": "example.com", "u": "https://example.com/new"}),
        headers={"Origin": "https://example.com", "Content-Type": "text/plain", "User-Agent": DESKTOP_UA},
    )
    assert r.status_code == 202
    cmd = [sys.executable, "-m", "collector", "status", "--config", str(proc_server.config)]
    status = subprocess.run([*cmd, "--data-dir", str(proc_server.data_dir)], capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    set_aside = proc_server.data_dir / "journal" / "set-aside" / "0000000001.log"
    assert f"journal: segment 1 was damaged and is set aside at {set_aside}: 1 record(s) lost, 2 kept" in status.stdout
    assert proc_server.signal(signal.SIGTERM) == -signal.SIGTERM  # a graceful stop, re-raised
    lines = [line for line in proc_server.log.read_text().splitlines() if "damaged" in line]
    assert len(lines) == 1 and "1 record(s) lost, 2 kept" in lines[0], lines
    assert set_aside.exists()
    assert sorted(proc_server.stored_paths()) == ["/after", "/before", "/new"]
