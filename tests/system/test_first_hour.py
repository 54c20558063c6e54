"""What a new user meets in the first hour, through the real `collector` command: one clear line and exit 2
for a mistake (no terminal for a password, a busy port, no NATS server), and the commands that follow."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import orjson
import pyarrow.parquet as pq
import pytest

from collector.identifiers.keys import load_keys
from collector.storage.store import open_database
from tests.conftest import DESKTOP_UA, ORIGIN, SITE, LiveServer, write_config


def collector(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command as a script or `ssh host cmd` runs it: no controlling terminal, stdin a pipe or nothing."""
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def offline(tmp_path: Path) -> list[str]:
    """--config and --data-dir of an install with its key file and no server running."""
    data = tmp_path / "data"
    data.mkdir()
    load_keys(data / "collector.key", env={}, create=True)
    return ["--config", str(write_config(tmp_path, data)), "--data-dir", str(data)]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_user_add_without_a_terminal_points_to_password_stdin_and_a_replaced_password_is_said(
    offline: list[str],
) -> None:
    line = one_line(collector("user", "add", "alice", *offline))
    assert line.startswith("collector: ") and "--password-stdin" in line

    first = collector("user", "add", "alice", "--password-stdin", *offline, stdin="correct horse battery\n")
    assert first.returncode == 0, first.stderr
    assert "replaced" not in first.stdout
    again = collector("user", "add", "alice", "--password-stdin", *offline, stdin="another horse battery\n")
    assert again.returncode == 0, again.stderr
    assert "replaced the password" in again.stdout and "alice" in again.stdout


def test_serve_on_a_busy_port_says_so_before_creating_anything(tmp_path: Path, busy_port: int) -> None:
    data = tmp_path / "data"
    line = one_line(collector("serve", "--data-dir", str(data), "--port", str(busy_port)))
    assert line == (
        f"collector: cannot listen on 127.0.0.1:{busy_port}: the port is in use (another collector?); "
        "pick another with --port"
    )
    assert not data.exists(), "a busy port must fail before the database and key file are made"


def test_load_and_ingest_node_without_a_nats_server_name_the_servers_they_tried(tmp_path: Path) -> None:
    data = tmp_path / "data"
    gone = f"nats://127.0.0.1:{free_port()}"
    where = ["--data-dir", str(data), "--port", str(free_port())]
    line = one_line(collector("load", "--source", f"{gone},nats://nohost.invalid:4222", *where))
    assert line.startswith("collector: no NATS server answers; tried ")
    assert f"{gone} (connection refused)" in line and "nats://nohost.invalid:4222" in line
    assert not data.exists()

    pepper = {"COLLECTOR_PEPPER": "ab" * 32, "COLLECTOR_DATABASE_KEY": "cd" * 32}
    line = one_line(collector("serve", "--sink", gone, *where, env=pepper))
    assert line == f"collector: no NATS server answers; tried {gone} (connection refused)"


def test_snippet_for_a_local_site_carries_data_allow_local(offline: list[str]) -> None:
    local = collector("snippet", "--site", "localhost", *offline)
    assert local.returncode == 0 and "data-allow-local" in local.stdout
    public = collector("snippet", "--site", SITE, *offline)
    assert public.returncode == 0 and "data-allow-local" not in public.stdout


def test_query_messages_give_the_date_format_and_what_a_file_holds(offline: list[str], tmp_path: Path) -> None:
    line = one_line(collector("query", "pages", "--from", "2026-13-01", *offline))
    assert "YYYY-MM-DD" in line and "'2026-13-01'" in line

    out = tmp_path / "pages.parquet"
    wrote = collector("query", "pages", "--format", "parquet", "--output", str(out), *offline)
    assert wrote.returncode == 0, wrote.stderr
    assert wrote.stdout.strip() == f"wrote 0 rows of pages as parquet to {out}"
    assert pq.read_table(out).num_rows == 0


def test_timestamps_the_cli_prints_carry_their_time_zone(offline: list[str]) -> None:
    added = collector("requests", "add", "--site", SITE, "--type", "erase", *offline)
    assert added.returncode == 0, added.stderr
    listed = collector("requests", "--json", *offline)
    assert listed.returncode == 0, listed.stderr
    [request] = orjson.loads(listed.stdout)
    assert request["received"].endswith("+00:00") and request["due"].endswith("+00:00")
    text = collector("requests", *offline)
    assert " UTC " in text.stdout, text.stdout

    assert collector("token", "create", "--name", "ci", "--scope", "admin", *offline).returncode == 0
    [token] = orjson.loads(collector("token", "list", "--json", *offline).stdout)
    assert token["created_at"].endswith("+00:00")
    assert collector("token", "list", *offline).stdout.rstrip().endswith(" UTC")


def test_salts_renew_replaces_todays_salt(offline: list[str], tmp_path: Path) -> None:
    def todays_salt() -> bytes:
        keys = load_keys(tmp_path / "data" / "collector.key", create=False)
        con = open_database(tmp_path / "data" / "collector.duckdb", keys.database_key, read_only=True)
        try:
            row = con.execute("SELECT salt FROM salts WHERE day = current_date").fetchone()
            return bytes(row[0]) if row else b""
        finally:
            con.close()

    first = collector("salts", "renew", *offline)
    assert first.returncode == 0, first.stderr
    before = todays_salt()
    assert len(before) == 32
    assert collector("salts", "renew", *offline).returncode == 0
    assert todays_salt() not in (before, b"")


def test_shell_runs_sql_on_a_snapshot_with_the_collectors_own_duckdb(server: LiveServer, tmp_path: Path) -> None:
    body = orjson.dumps({"d": SITE, "u": "https://example.com/shell"})
    headers = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA}
    assert httpx.post(f"{server.url}/api/event", content=body, headers=headers).status_code == 202
    server.query("SELECT 1")  # the writer has loaded the event
    snapshot = tmp_path / "snapshot"
    where = ["--data-dir", str(server.settings.data_dir)]
    exported = collector("export", "--to", str(snapshot), *where)
    assert exported.returncode == 0, exported.stderr

    shown = collector("shell", str(snapshot), "-c", "SELECT path, count(*) AS n FROM events GROUP BY path", *where)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[2].split() == ["/shell", "1"]

    piped = collector("shell", str(snapshot), *where, stdin="SELECT 41 + 1 AS answer; SELECT nope;\n")
    assert piped.returncode == 1
    assert "42" in piped.stdout
    assert piped.stderr.startswith("error: Binder Error") and len(piped.stderr.strip().splitlines()) == 1
    with duckdb.connect(str(snapshot / "analytics.duckdb"), read_only=True):
        pass  # the shell left the snapshot as it was, openable by anyone

    line = one_line(collector("shell", str(tmp_path / "nowhere"), *where))
    assert "collector export --to" in line


def test_http_errors_say_a_missing_origin_is_missing_and_give_the_id_rule(server: LiveServer) -> None:
    preflight = httpx.options(f"{server.url}/api/event", headers={"Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403
    assert preflight.json()["error"] == "the Origin header is missing"

    body = orjson.dumps({"d": SITE, "u": "https://example.com/", "id": "no spaces please"})
    headers = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA}
    refused = httpx.post(f"{server.url}/api/event", content=body, headers=headers)
    assert refused.status_code == 400
    assert refused.json() == {"error": "id must be 8 to 128 letters, digits, - or _", "field": "id"}

    utf8 = httpx.post(f"{server.url}/api/event", content=b'{"d":"example.com","u":"\xff"}', headers=headers)
    assert (utf8.status_code, utf8.json()["error"]) == (400, "body is not valid UTF-8")
