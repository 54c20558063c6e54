"""Once `collector segments refresh` or `collector erase` has returned, the running server's lookups show it:
a real server process, the real CLI, and a lookup at once after the command exits."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import httpx

from tests.conftest import DESKTOP_UA
from tests.system.test_durability import ServerProcess

PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)


def cli(server: ServerProcess, *args: str) -> str:
    cmd = [sys.executable, "-m", "collector", *args, "--config", str(server.config), "--data-dir", str(server.data_dir)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def visit(server: ServerProcess, raw_id: str, path: str) -> None:
    body = f'{{"d":"example.com","u":"https://example.com{path}","id":"{raw_id}","l":"vi-VN"}}'
    headers = {"Origin": "https://example.com", "Content-Type": "text/plain", "User-Agent": PHONE_UA}
    assert httpx.post(f"{server.url}/api/event", content=body, headers=headers).status_code == 202


def lookup(server: ServerProcess, token: str, raw_id: str) -> dict[str, Any]:
    r = httpx.get(
        f"{server.url}/api/segments",
        params={"site": "example.com", "visitor": raw_id},
        headers={"Authorization": f"Bearer {token}", "User-Agent": DESKTOP_UA},
    )
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def segments_of(server: ServerProcess, token: str, raw_id: str) -> list[str]:
    segments: list[str] = lookup(server, token, raw_id)["segments"]
    return segments


def test_a_refresh_and_an_erasure_are_visible_as_soon_as_the_command_returns(proc_server: ServerProcess) -> None:
    proc_server.start()
    token = cli(proc_server, "token", "create", "--name", "recs", "--scope", "segments:read").splitlines()[-1]
    deadline = time.monotonic() + 30
    while lookup(proc_server, token, "visitor-0000").get("computed_at") is None:  # the server's own first refresh
        assert time.monotonic() < deadline, "the server never refreshed its segments"
        time.sleep(0.05)
    # The server's next refresh is a minute away: from here on, only the commands refresh.
    for raw_id in ("visitor-0001", "visitor-0002"):
        for path in ("/shoes/a", "/shoes/b", "/shoes/c"):
            visit(proc_server, raw_id, path)
        assert segments_of(proc_server, token, raw_id) == [], "not refreshed yet"
        cli(proc_server, "segments", "refresh")
        assert {"interested_shoes", "mobile"} <= set(segments_of(proc_server, token, raw_id))
    cli(proc_server, "erase", "--site", "example.com", "--visitor-id", "visitor-0001")
    assert segments_of(proc_server, token, "visitor-0001") == []
    assert "interested_shoes" in segments_of(proc_server, token, "visitor-0002")
