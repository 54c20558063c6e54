"""The CLI through its real entry point, with and without a server running on the same data dir."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import orjson

from tests.conftest import DESKTOP_UA
from tests.test_durability import ServerProcess


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
