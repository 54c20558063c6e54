"""The built wheel works outside the checkout: it carries its snippet, queries and migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx

from tests.system.test_durability import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_serves_from_any_folder_with_its_package_data(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("collector-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "collector/_data/snippet/dist/collector.js" in names
    assert any(n.startswith("collector/storage/migrations/001_") for n in names)
    assert not any(n.startswith("tests/") for n in names)

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    env = os.environ | {"PYTHONPATH": str(site)}
    code = "import collector, sys; from collector.cli.main import main; sys.exit(main())"
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "serve", "--port", str(port)],
            cwd=elsewhere,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/js/collector.js", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.status_code == 200
        assert r.content == (ROOT / "snippet" / "dist" / "collector.js").read_bytes()
        beacon = httpx.post(
            f"http://127.0.0.1:{port}/api/event",
            content=b'{"d":"localhost","u":"http://localhost/installed"}',
            headers={"Origin": f"http://localhost:{port}", "Content-Type": "text/plain"},
            timeout=10,
        )
        assert beacon.status_code == 202, beacon.text  # stored through the installed journal process
        assert (elsewhere / "data" / "collector.duckdb").exists()
        where = subprocess.run(
            [sys.executable, "-c", "import collector; print(collector.__file__)"],
            env=env,
            cwd=elsewhere,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert where.startswith(str(site))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
