"""The real `collector` command in a child process: `serve` as users run it, and one-shot commands."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

CONFIG = """
rate_limit_client_per_second = {client_rate}
rate_limit_client_burst = {client_burst}
max_body_bytes = {max_body_bytes}

[[sites]]
domain = "example.com"
origins = ["https://example.com", "https://www.example.com"]

[[sites]]
domain = "other.org"
origins = ["https://other.org"]
"""


def write_config(path: Path, client_rate: float = 20, client_burst: int = 200, max_body_bytes: int = 16384) -> Path:
    path.write_text(
        CONFIG.format(client_rate=client_rate, client_burst=client_burst, max_body_bytes=max_body_bytes),
        encoding="utf-8",
    )
    return path


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLLECTOR_")}
    return env | (extra or {})


def collector(*args: str, env: dict[str, str] | None = None, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(env),
        **kwargs,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """`python -m collector serve` on a free loopback port, until stop()."""

    def __init__(self, config: Path, data_dir: Path) -> None:
        self.config = config
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None

    def args(self) -> list[str]:
        return ["--config", str(self.config), "--data-dir", str(self.data_dir)]

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector", "serve", *self.args(), "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(None),
        )
        # Start-up loads every device rule before serving: seconds, more on a busy machine.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector serve exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        log = self.stop()
        raise RuntimeError(f"collector serve did not become healthy: {log[-2000:]}")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A CLI command against this server's data dir (it goes through the server's admin socket)."""
        return collector(*args, *self.args())

    def stop(self) -> str:
        """Stop with SIGTERM; return what the server logged."""
        if self.proc is None:
            return ""
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.proc = None
        return err
