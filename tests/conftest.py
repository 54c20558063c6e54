"""Shared test fixtures: real settings in tmp_path, a real uvicorn server on a loopback port."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from collector.app import Live, create_app
from collector.settings import Settings, Site, load_settings
from collector.storage import store

SITE = "example.com"
ORIGIN = "https://example.com"
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    settings = load_settings(env={}, data_dir=tmp_path / "data")
    sites = (
        Site(domain=SITE, origins=(ORIGIN, "https://www.example.com")),
        Site(domain="other.org", origins=("https://other.org",)),
    )
    return replace(settings, sites=sites, **overrides)


def write_config(tmp_path: Path, data_dir: Path, encrypt: bool = True) -> Path:
    """A collector.toml in tmp_path for example.com, with data_dir and a default country code for phone numbers."""
    config = tmp_path / "collector.toml"
    config.write_text(
        f'data_dir = "{data_dir}"\nencrypt = {str(encrypt).lower()}\n[[sites]]\ndomain = "example.com"\norigins = ["https://example.com"]\n'
        '[privacy]\ndefault_country_code = "84"\n',
        encoding="utf-8",
    )
    return config


class LiveServer:
    """A real uvicorn server running create_app(settings) in a thread, on 127.0.0.1 and a free port."""

    def __init__(self, settings: Settings, **app_kwargs: Any) -> None:
        self.settings = settings
        self.app = create_app(settings, **app_kwargs)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app, log_config=None, access_log=False, lifespan="on", loop="asyncio", proxy_headers=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()

    @property
    def live(self) -> Live:
        live: Live = self.app.state.live
        return live

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Read the server's own database (in-process cursor, the server keeps running)."""
        assert self.live.runtime is not None and self.live.writer is not None
        self.live.writer.sync()
        cur = store.cursor(self.live.runtime.con)
        try:
            return cur.execute(sql, params or []).fetchall()
        finally:
            cur.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def proc_server(tmp_path: Path) -> Iterator[Any]:
    """The real `collector serve` as a subprocess on tmp_path (see ServerProcess), killed at the end."""
    from tests.system.test_durability import ServerProcess

    server = ServerProcess(tmp_path)
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a failure: every dependency a test needs must be installed."""
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        if reporter:
            reporter.write_line(f"CI=true: {skipped} test(s) skipped; failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
