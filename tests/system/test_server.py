"""`collector serve` refuses to start, clearly and with a non-zero exit, on each set-up it cannot use."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ServerProcess, collector, write_config

HOLD_DATABASE = """
import sys, time
from pathlib import Path
from collector.identifiers.keys import load_keys
from collector.storage.store import open_database
data = Path(sys.argv[1])
keys = load_keys(data / "collector.key", create=False)
con = open_database(data / "collector.duckdb", keys.database_key)
print("holding", flush=True)
time.sleep(60)
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "collector.toml")


@pytest.fixture(scope="module")
def initialised_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("initialised")
    data = top / "data"
    log = ServerProcess(write_config(top / "collector.toml"), data).start().stop()
    assert '"msg":"collector stopped"' in log
    assert (data / "collector.key").exists() and (data / "collector.duckdb").exists()
    return data


@pytest.fixture
def initialised(initialised_once: Path, tmp_path: Path) -> Path:
    """A data dir that a real server created (key file and database) and left, copied for this test."""
    data = tmp_path / "data"
    shutil.copytree(initialised_once, data)
    return data


def serve(config: Path, data: Path) -> subprocess.CompletedProcess[str]:
    return collector("serve", "--config", str(config), "--data-dir", str(data), "--port", "0")


def test_bad_config_is_named_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("rate_limit_client_per_second = -1\n", encoding="utf-8")
    result = serve(bad, tmp_path / "data")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"collector: config file {bad}: rate_limit_client_per_second has an invalid value -1"
    )
    assert not (tmp_path / "data").exists()


def test_missing_key_file_next_to_a_database_is_refused(initialised: Path, config: Path) -> None:
    (initialised / "collector.key").unlink()
    result = serve(config, initialised)
    assert result.returncode == 2
    assert "key file" in result.stderr and "is missing but database" in result.stderr
    assert not (initialised / "collector.key").exists(), "a new key would make the data unreadable"


def test_key_file_readable_by_others_is_refused(initialised: Path, config: Path) -> None:
    (initialised / "collector.key").chmod(0o644)
    result = serve(config, initialised)
    assert result.returncode == 2
    assert "readable by others (mode 644)" in result.stderr and "chmod 600" in result.stderr


@pytest.fixture
def unwritable_dir() -> Iterator[Path]:
    # tmp_path sits under a 0700 directory that another user cannot enter, so use a fresh one.
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)
        data = Path(top) / "data"
        data.mkdir(mode=0o555)
        yield data


def test_data_dir_that_is_not_writable_is_refused(unwritable_dir: Path) -> None:
    config = write_config(unwritable_dir.parent / "collector.toml")
    command = [sys.executable, "-m", "collector", "serve", "--config", str(config), "--data-dir", str(unwritable_dir)]
    if os.geteuid() == 0:
        # root writes anywhere: take away its power to override file modes, like a service account's.
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"data directory {unwritable_dir} is not writable" in result.stderr


def test_database_locked_by_another_process_names_its_pid(initialised: Path, config: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_DATABASE, str(initialised)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        result = serve(config, initialised)
    finally:
        holder.kill()
        holder.communicate()
    assert result.returncode == 2
    assert f"is locked by process {holder.pid}" in result.stderr
