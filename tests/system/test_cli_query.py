from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from collector.http.runtime import open_runtime
from collector.settings import load_settings
from tests.querydata import SITE, insert_events

CONFIG = """
[[sites]]
domain = "example.com"
origins = ["https://example.com"]
k_anonymity = 1
"""
PERIOD = ["--site", SITE, "--from", "2026-11-01", "--to", "2026-11-03"]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    config = tmp_path / "collector.toml"
    config.write_text(CONFIG)
    settings = load_settings(config, env={}, data_dir=tmp_path / "data")
    runtime = open_runtime(settings)
    try:
        insert_events(runtime.con, site=SITE)
    finally:
        runtime.close()
    return tmp_path


def collector(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "collector",
        *args,
        "--config",
        str(folder / "collector.toml"),
        "--data-dir",
        str(folder / "data"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLLECTOR_")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=folder)


@pytest.fixture
def running(data: Path) -> Iterator[Path]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "collector",
        "serve",
        "--config",
        str(data / "collector.toml"),
        "--data-dir",
        str(data / "data"),
        "--port",
        str(port),
    ]
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=data)
    try:
        deadline = time.monotonic() + 120  # start-up warms the device rules: slow on a busy machine
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            alive = proc.poll() is None and time.monotonic() < deadline
            assert alive, "the server did not start: " + (data / "server.log").read_text(errors="replace")
            time.sleep(0.1)
        yield data
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_query_list_names_every_query(data: Path) -> None:
    out = collector(data, "query", "--list")
    assert out.returncode == 0, out.stderr
    for name in ("overview", "pages", "devices", "segments", "third_parties"):
        assert f"\n{name} " in "\n" + out.stdout


def test_query_without_a_server_opens_the_file(data: Path) -> None:
    out = collector(data, "query", "pages", *PERIOD, "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows"] == [["/", 4, 6], ["/pricing", 4, 4], ["/docs", 1, 1], ["(other)", 0, 1]]
    table = collector(data, "query", "devices", *PERIOD, "--param", "limit=1")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["type", "brand", "model", "visitors", "pageviews"]
    assert table.stdout.splitlines()[2].split() == ["desktop", "Apple", "Mac", "4", "6"]
    assert table.stdout.splitlines()[-1] == "(1 row)"


def test_query_goes_through_a_running_server(running: Path) -> None:
    out = collector(running, "query", "overview", *PERIOD, "--format", "csv")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "day,visitors,pageviews,visits,views_per_visit",
        "2026-11-01,3,8,4,1.5",
        "2026-11-02,2,3,2,1.5",
        "2026-11-03,1,1,0,",
    ]
    target = running / "pages.parquet"
    out = collector(running, "query", "pages", *PERIOD, "--format", "parquet", "--output", str(target))
    assert out.returncode == 0, out.stderr
    assert pq.read_table(target).to_pylist()[0] == {"path": "/", "visitors": 4, "pageviews": 6}
    exported = collector(running, "export", "--to", str(running / "snapshot"))
    assert exported.returncode == 0, exported.stderr
    assert (running / "snapshot" / "analytics.duckdb").exists()


def test_query_filters_repeat_and_combine(data: Path) -> None:
    # Every Apple event left out, then only visits that viewed a path containing "pric": B's visit.
    args = ["--filter", "device_brand!=Apple", "--filter", "path~pric", "--format", "json"]
    out = collector(data, "query", "pages", *PERIOD, *args)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows"] == [["/", 1, 1], ["/pricing", 1, 1]]
    # The older form still works: a parameter named after a field is that field's == filter.
    out = collector(data, "query", "pages", *PERIOD, "--param", "device_brand=Dell", "--format", "json")
    assert json.loads(out.stdout)["rows"] == [["/", 1, 1], ["/docs", 1, 1]]
    out = collector(data, "query", "conversions", *PERIOD, "--param", "goal=event:signup", "--filter", "prop:plan==pro")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[2].split() == ["total", "1", "1", "1.0"]


def test_a_bad_filter_is_one_line_and_exit_2(data: Path) -> None:
    for bad, message in (
        ("device_brand=Samsung", "is not FIELD==VALUE, FIELD!=VALUE or FIELD~VALUE"),
        ("colour==red", "unknown filter field 'colour'"),
    ):
        out = collector(data, "query", "pages", *PERIOD, "--filter", bad)
        assert out.returncode == 2
        assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_query_errors_are_clear_and_exit_2(data: Path) -> None:
    out = collector(data, "query", "pages", "--site", SITE, "--from", "2026-02-30")
    assert out.returncode == 2
    assert "from must be a date, YYYY-MM-DD" in out.stderr
    out = collector(data, "query", "nope")
    assert out.returncode == 2 and "no query named 'nope'" in out.stderr
    out = collector(data, "query", "pages", "--param", "limit")
    assert out.returncode == 2 and "not key=value" in out.stderr
    out = collector(data, "query", "pages", "--format", "parquet")
    assert out.returncode == 2 and "--output" in out.stderr
