"""Every 202 is on disk: the real server, killed with SIGKILL mid-load, keeps every acknowledged event."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson

from collector.identifiers.keys import load_keys
from collector.storage.store import open_database
from tests.conftest import DESKTOP_UA

CONFIG = """
[[sites]]
domain = "example.com"
origins = ["https://example.com"]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(self, tmp_path: Path) -> None:
        self.data_dir = tmp_path / "data"
        self.config = tmp_path / "collector.toml"
        self.config.write_text(CONFIG)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "collector", "serve", "--config", str(self.config)]
        cmd += ["--data-dir", str(self.data_dir), "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log.read_text()}")

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def stored_paths(self) -> list[str]:
        keys = load_keys(self.data_dir / "collector.key", create=False)
        con = open_database(self.data_dir / "collector.duckdb", keys.database_key, read_only=True)
        try:
            return [row[0] for row in con.execute("SELECT path FROM events").fetchall()]
        finally:
            con.close()


def drive_load(url: str, acked: list[str], stop: threading.Event, workers: int = 32) -> None:
    """Send events with unique paths until stopped; record the paths that got a 202."""
    headers = {"Origin": "https://example.com", "Content-Type": "text/plain", "User-Agent": DESKTOP_UA}

    async def worker(n: int, client: httpx.AsyncClient) -> None:
        i = 0
        while not stop.is_set():
            path = f"/w{n}/e{i}"
            i += 1
            body = orjson.dumps({"d": "example.com", "u": f"https://example.com{path}"})
            try:
                r = await client.post(f"{url}/api/event", content=body, headers=headers, timeout=5)
            except httpx.HTTPError:
                await asyncio.sleep(0.01)
                continue
            if r.status_code == 202:
                acked.append(path)

    async def main() -> None:
        limits = httpx.Limits(max_connections=workers)
        async with httpx.AsyncClient(limits=limits) as client:
            await asyncio.gather(*(worker(n, client) for n in range(workers)))

    asyncio.run(main())


def run_load_then(server: ServerProcess, sig: int, min_acked: int = 200) -> tuple[list[str], int]:
    """Load the server until it has acknowledged min_acked events (or 40 s passed), then signal it mid-load."""
    acked: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(target=drive_load, args=(server.url, acked, stop))
    thread.start()
    deadline = time.monotonic() + 40
    while len(acked) < min_acked and time.monotonic() < deadline:
        time.sleep(0.05)
    code = server.signal(sig)
    time.sleep(0.2)
    stop.set()
    thread.join(timeout=30)
    return acked, code


def test_every_acknowledged_event_survives_kill_9(proc_server: ServerProcess) -> None:
    proc_server.start()
    acked, code = run_load_then(proc_server, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert len(acked) >= 200, "the load generator should have been acknowledged many times before the kill"
    proc_server.start()  # restart on the same data dir: the WAL is replayed
    proc_server.signal(signal.SIGTERM)
    stored = proc_server.stored_paths()
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert len(stored) == len(set(stored)), "no event may be stored twice"


def test_sigterm_drains_and_exits_cleanly(proc_server: ServerProcess) -> None:
    proc_server.start()
    acked, code = run_load_then(proc_server, signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so process managers see the usual status.
    assert code == -signal.SIGTERM
    assert '"collector stopped"' in proc_server.log.read_text()
    assert acked
    stored = set(proc_server.stored_paths())
    assert set(acked) <= stored


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def journal_process(server: ServerProcess) -> int:
    """The pid of the server's journal process: the only child of its only child (the zygote, zygote.py)."""
    assert server.proc is not None
    (zygote,) = children(server.proc.pid)
    deadline = time.monotonic() + 10
    while not (forked := children(zygote)) and time.monotonic() < deadline:  # a new one is being forked
        time.sleep(0.05)
    assert len(forked) == 1, forked
    return forked[0]


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return True
        if "State:\tZ" in status:
            return True
        time.sleep(0.05)
    return False


def test_the_journal_process_does_not_outlive_a_killed_server(proc_server: ServerProcess) -> None:
    proc_server.start()
    child = journal_process(proc_server)
    acked, _ = run_load_then(proc_server, signal.SIGKILL, min_acked=50)
    assert gone(child), "the journal process must exit when its server is gone"
    proc_server.start()
    proc_server.signal(signal.SIGTERM)
    assert set(acked) <= set(proc_server.stored_paths())


class Load:
    """drive_load in a thread, and a way to wait until it has more acknowledgements."""

    def __init__(self, url: str, seconds: float) -> None:
        self.acked: list[str] = []
        self.stop = threading.Event()
        self.deadline = time.monotonic() + seconds
        self.thread = threading.Thread(target=drive_load, args=(url, self.acked, self.stop))

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def more(self, count: int) -> bool:
        """Wait for `count` more acknowledged events (until the deadline); whether they came."""
        target = len(self.acked) + count
        while len(self.acked) < target and time.monotonic() < self.deadline:
            time.sleep(0.05)
        return len(self.acked) >= target


def assert_stored_once(server: ServerProcess, acked: list[str]) -> None:
    server.signal(signal.SIGTERM)
    stored = server.stored_paths()
    assert set(acked) <= set(stored)
    assert len(stored) == len(set(stored))


def test_a_killed_journal_process_loses_no_acknowledged_event_and_is_replaced(proc_server: ServerProcess) -> None:
    proc_server.start()
    first = journal_process(proc_server)
    with Load(proc_server.url, 40) as load:
        load.more(100)
        os.kill(first, signal.SIGKILL)
        assert load.more(100), "the server should take events again with a new journal process"
    assert journal_process(proc_server) != first
    assert httpx.get(f"{proc_server.url}/healthz", timeout=5).status_code == 200
    assert_stored_once(proc_server, load.acked)
    log = proc_server.log.read_text()
    assert "the journal process exited" in log
    ready = [orjson.loads(line) for line in log.splitlines() if '"journal process ready"' in line]
    assert len(ready) >= 2, "the first journal process and its replacement log in the server's JSON format"
    assert {r["logger"] for r in ready} == {"collector.ingest.handler"} and first in {r["pid"] for r in ready}


def test_a_killed_zygote_is_replaced_when_a_new_journal_process_is_needed(proc_server: ServerProcess) -> None:
    proc_server.start()
    assert proc_server.proc is not None
    (zygote,) = children(proc_server.proc.pid)
    first = journal_process(proc_server)
    with Load(proc_server.url, 60) as load:
        load.more(50)
        os.kill(zygote, signal.SIGKILL)
        assert load.more(50), "the journal process outlives its zygote and keeps committing"
        os.kill(first, signal.SIGKILL)  # the next write needs a new journal process, so a new zygote
        assert load.more(50), "a new zygote should fork a new journal process"
    assert children(proc_server.proc.pid) != [zygote]
    assert_stored_once(proc_server, load.acked)


def test_ctrl_c_to_the_whole_process_group_still_drains_every_acknowledged_event(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    cmd = [sys.executable, "-m", "collector", "serve", "--config", str(server.config)]
    cmd += ["--data-dir", str(server.data_dir), "--port", str(server.port)]
    with server.log.open("ab") as log:
        server.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                break
        time.sleep(0.05)
    acked: list[str] = []
    stop = threading.Event()
    thread = threading.Thread(target=drive_load, args=(server.url, acked, stop))
    thread.start()
    while len(acked) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(server.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the journal process gets it too
    server.proc.wait(timeout=30)
    stop.set()
    thread.join(timeout=30)
    assert '"collector stopped"' in server.log.read_text()
    assert acked
    assert set(acked) <= set(server.stored_paths())
