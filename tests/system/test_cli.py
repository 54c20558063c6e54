"""The CLI through its real entry point, with and without a server running on the same data dir."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson

from collector.durable.journal import Journal, Sealer
from collector.durable.process import journal_lock
from collector.identifiers.keys import load_keys
from collector.storage.rows import to_row
from tests.conftest import DESKTOP_UA
from tests.integration.durable.test_journal import event
from tests.system.test_durability import ServerProcess


def cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "collector", *args, "--config", str(server.config), "--data-dir", str(server.data_dir)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_status_goes_through_the_running_server_and_works_without_it(proc_server: ServerProcess) -> None:
    proc_server.start()
    body = orjson.dumps({"d": "example.com", "u": "https://example.com/x"})
    headers = {"Origin": "https://example.com", "Content-Type": "text/plain", "User-Agent": DESKTOP_UA}
    assert httpx.post(f"{proc_server.url}/api/event", content=body, headers=headers).status_code == 202

    running = cli(proc_server, "status", "--json")
    assert running.returncode == 0, running.stderr
    assert orjson.loads(running.stdout)["sites"][0]["events"] == 1

    proc_server.signal(signal.SIGTERM)
    stopped = cli(proc_server, "status", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert orjson.loads(stopped.stdout)["sites"][0]["events"] == 1


def test_events_left_in_the_journal_by_a_crash_are_visible_to_the_cli(proc_server: ServerProcess) -> None:
    proc_server.start()
    body = orjson.dumps([{"d": "example.com", "u": f"https://example.com/{i}"} for i in range(50)])
    headers = {"Origin": "https://example.com", "Content-Type": "text/plain", "User-Agent": DESKTOP_UA}
    assert httpx.post(f"{proc_server.url}/api/event", content=body, headers=headers).status_code == 202
    proc_server.signal(signal.SIGKILL)
    result = cli(proc_server, "status", "--json")
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["sites"][0]["events"] == 50


def test_a_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[sites]]\ndomain = "example.com"\norigins = ["not an origin"]\n')
    result = subprocess.run(
        [sys.executable, "-m", "collector", "status", "--config", str(config), "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "not an origin" in result.stderr and "Traceback" not in result.stderr


def torn_record(server: ServerProcess, scratch: Path) -> tuple[Path, bytes]:
    """Key the data dir; return its journal segment and one whole record for it (one event, sealed)."""
    keys = load_keys(server.data_dir / "collector.key")
    sealed = Sealer(keys.database_key).seal(orjson.dumps([to_row(event("/appended-last"))]))
    journal = Journal(scratch)
    journal.append([sealed])
    journal.close()
    return server.data_dir / "journal" / "0000000001.log", next(scratch.glob("*.log")).read_bytes()


def opens(proc: subprocess.Popen[str], path: Path, within: float = 60.0) -> bool:
    """Whether the process gets `path` open while it runs (the CLI opens the lock file, then tries to take it)."""
    target = str(path.resolve())
    deadline = time.monotonic() + within
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == target for fd in Path(f"/proc/{proc.pid}/fd").iterdir()):
                return True
        time.sleep(0.02)
    return False


def test_offline_the_cli_waits_for_an_append_still_under_way_and_replays_it(
    proc_server: ServerProcess, tmp_path: Path
) -> None:
    segment, record = torn_record(proc_server, tmp_path / "scratch")
    half = len(record) // 2
    folder = segment.parent
    cmd = [sys.executable, "-m", "collector", "status", "--json", "--config", str(proc_server.config)]
    cmd += ["--data-dir", str(proc_server.data_dir)]
    with journal_lock(folder):  # as a journal process left by a killed server, mid-append
        with segment.open("ab") as f:
            f.write(record[:half])
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert opens(proc, folder / ".lock"), proc.communicate(timeout=120)
            with segment.open("ab") as f:
                f.write(record[half:])
                os.fsync(f.fileno())
        except BaseException:
            proc.kill()
            raise
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert orjson.loads(out)["sites"] == [
        {"site": "example.com", "events": 1, "last_event": "2026-11-25T12:00:00+00:00"}
    ]


def test_offline_the_cli_refuses_a_journal_still_held_after_its_wait_and_leaves_it_alone(
    proc_server: ServerProcess, tmp_path: Path
) -> None:
    segment, record = torn_record(proc_server, tmp_path / "scratch")
    short_wait = "import sys; from collector.cli import main as cli; cli.LOCK_WAIT_SECONDS = 0.5; sys.exit(cli.main())"
    cmd = [sys.executable, "-c", short_wait, "status", "--config", str(proc_server.config)]
    cmd += ["--data-dir", str(proc_server.data_dir)]
    with journal_lock(segment.parent):
        segment.write_bytes(record[: len(record) // 2])
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("collector: the journal in ") and "still held by another process" in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert segment.read_bytes() == record[: len(record) // 2]  # the half-written tail is not cut
