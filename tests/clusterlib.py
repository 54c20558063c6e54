"""Real processes on loopback for the scale-out tests and bench/cluster.py: NATS servers, ingest nodes, a loader.

Every process is started in its own session and killed with SIGKILL when the harness closes, so a
failing test leaves nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats

from collector.events import Device, Request
from collector.ingest.parsing import build_event, new_event_id
from collector.scaleout.stream import EVENTS_SUBJECT, encode
from collector.storage.store import open_database

SITE = "example.com"
ORIGIN = "https://example.com"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
REPO = Path(__file__).resolve().parent.parent


def nats_server() -> str | None:
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.access("/usr/sbin/nats-server", os.X_OK) else None
    )


def free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Proc:
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None
    cpu_before: float = 0.0  # CPU seconds of earlier incarnations

    def start(self) -> Proc:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True, cwd=REPO
            )
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """user + system CPU so far (Linux /proc) of this process and the ones it started (its session: the
        embedded collector's journal process), plus what earlier incarnations used."""
        if not self.alive or self.popen is None:
            return self.cpu_before
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            if int(fields[3]) == self.popen.pid:  # the session started with start_new_session
                ticks += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])  # with reaped children
        return self.cpu_before + ticks / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.cpu_before = self.cpu_seconds()
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.popen is None or self.popen.poll() is not None:
            return None if self.popen is None else self.popen.returncode
        self.cpu_before = self.cpu_seconds()
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Cluster:
    root: Path
    nats_nodes: int = 3
    ingest_nodes: int = 2
    replicas: int = 3
    nats: list[Proc] = field(default_factory=list)
    ingest: list[Proc] = field(default_factory=list)
    loader: Proc | None = None
    embedded: Proc | None = None
    client_ports: list[int] = field(default_factory=list)
    monitor_ports: list[int] = field(default_factory=list)
    ingest_ports: list[int] = field(default_factory=list)
    loader_port: int = 0
    embedded_port: int = 0
    keys: dict[str, str] = field(default_factory=dict)
    config: str = ""  # more collector.toml settings for every collector node

    def __post_init__(self) -> None:
        n = self.nats_nodes
        ports = free_ports(3 * n + self.ingest_nodes + 2)
        self.client_ports, cluster_ports, self.monitor_ports = ports[:n], ports[n : 2 * n], ports[2 * n : 3 * n]
        self.ingest_ports = ports[3 * n : 3 * n + self.ingest_nodes]
        self.loader_port, self.embedded_port = ports[-2], ports[-1]
        self.keys = {"COLLECTOR_PEPPER": secrets.token_hex(32), "COLLECTOR_DATABASE_KEY": secrets.token_hex(32)}
        binary = nats_server()
        assert binary is not None, "nats-server is not installed (apt-get install nats-server)"
        store_key = secrets.token_hex(16)
        for i in range(n):
            folder = self.root / f"nats{i}"
            folder.mkdir(parents=True)
            routes = ", ".join(f"nats-route://127.0.0.1:{p}" for j, p in enumerate(cluster_ports) if j != i)
            cluster = (
                f'cluster {{\n  name: "collector"\n  listen: 127.0.0.1:{cluster_ports[i]}\n  routes: [{routes}]\n}}\n'
                if n > 1
                else ""
            )
            config = (
                f'server_name: "n{i}"\nlisten: 127.0.0.1:{self.client_ports[i]}\n'
                f"http: 127.0.0.1:{self.monitor_ports[i]}\n"
                f'jetstream {{\n  store_dir: "{folder / "js"}"\n  key: "{store_key}"\n'
                "  max_memory_store: 64MB\n  max_file_store: 4GB\n}\n" + cluster
            )
            (folder / "nats.conf").write_text(config)
            self.nats.append(Proc(f"nats{i}", [binary, "-c", str(folder / "nats.conf")], folder / "nats.log"))
        site = f'[[sites]]\ndomain = "{SITE}"\norigins = ["{ORIGIN}"]\n'
        (self.root / "collector.toml").write_text(
            f'log_level = "warning"\nstream_replicas = {self.replicas}\n{self.config}{site}'
        )
        env = dict(os.environ) | self.keys | {"PYTHONUNBUFFERED": "1"}
        for i, port in enumerate(self.ingest_ports):
            self.ingest.append(self._collector(f"ingest{i}", ["serve", "--sink", self.nats_url], port, env))
        self.loader = self._collector("loader", ["load", "--source", self.nats_url], self.loader_port, env)
        self.embedded = self._collector("embedded", ["serve"], self.embedded_port, env)

    def _collector(self, name: str, command: list[str], port: int, env: dict[str, str]) -> Proc:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "collector", command[0], "--config", str(self.root / "collector.toml")]
        argv += ["--data-dir", str(folder / "data"), "--port", str(port), *command[1:]]
        return Proc(name, argv, folder / "collector.log", env)

    @property
    def nats_url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.client_ports)

    def ingest_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ingest_ports[i]}"

    @property
    def loader_url(self) -> str:
        return f"http://127.0.0.1:{self.loader_port}"

    @property
    def embedded_url(self) -> str:
        return f"http://127.0.0.1:{self.embedded_port}"

    @property
    def database(self) -> Path:
        assert self.loader is not None
        return self.root / "loader" / "data" / "collector.duckdb"

    def start_nats(self, *which: int) -> None:
        for i in which or range(self.nats_nodes):
            self.nats[i].start()
        for i in which or range(self.nats_nodes):
            wait_http(f"http://127.0.0.1:{self.monitor_ports[i]}/healthz", self.nats[i])

    def start(self, proc: Proc, url: str, timeout: float = 40.0) -> None:
        proc.start()
        wait_http(f"{url}/healthz", proc, timeout)

    def start_all(self, embedded: bool = False) -> None:
        self.start_nats()
        assert self.loader is not None and self.embedded is not None
        procs = [(self.loader, self.loader_url), *((p, self.ingest_url(i)) for i, p in enumerate(self.ingest))]
        if embedded:
            procs.append((self.embedded, self.embedded_url))
        for proc, _ in procs:
            proc.start()
        for proc, url in procs:
            wait_http(f"{url}/healthz", proc, 40)

    def wait_warm(self, urls: list[str], timeout: float = 90.0) -> None:
        """Wait until every node's background build of device model rules is done: seconds of CPU that would
        otherwise land in whatever is measured next."""
        deadline = time.monotonic() + timeout
        for url in urls:
            while httpx.get(f"{url}/healthz", timeout=5).json().get("device_rules") != "complete":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"device rules not built at {url}")
                time.sleep(0.2)

    def pause_loader(self) -> None:
        """Freeze the (running, warm) loader and wait until its pending pull request has expired in JetStream,
        so that nothing is delivered to it until resume_loader()."""
        assert self.loader is not None and self.loader.popen is not None
        os.kill(self.loader.popen.pid, signal.SIGSTOP)
        time.sleep(1.2)  # the loader's fetches wait 1 s

    def resume_loader(self) -> None:
        assert self.loader is not None and self.loader.popen is not None
        os.kill(self.loader.popen.pid, signal.SIGCONT)

    def stream_leader(self) -> int:
        """Index of the NATS server leading the events stream."""
        info = asyncio.run(_stream_info(self.nats_url))
        return int(str(info.cluster.leader).removeprefix("n")) if info.cluster and info.cluster.leader else 0

    def stream_messages(self) -> int:
        return int(asyncio.run(_stream_info(self.nats_url)).state.messages)

    def backlog(self) -> int:
        """Messages not yet loaded: still in the stream (work queue) or delivered and not acknowledged."""
        return asyncio.run(_backlog(self.nats_url))

    def wait_drained(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.backlog():
            if time.monotonic() > deadline:
                raise AssertionError(f"the loader did not drain the stream; loader log:\n{self.tail_loader()}")
            time.sleep(0.2)

    def publish_backlog(self, events: int, per_message: int = 400) -> None:
        """Put events straight into the stream, grouped and encoded as ingest nodes do (paths /p/N)."""
        asyncio.run(_publish_backlog(self.nats_url, events, per_message))

    def time_drain(self, timeout: float = 120.0) -> Drain:
        """Resume the paused loader and watch its consumer every 20 ms until the backlog is drained."""
        return asyncio.run(_time_drain(self.nats_url, self, timeout))

    def tail_loader(self) -> str:
        return self.loader.tail() if self.loader else ""

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Read the loader's DuckDB file; the loader must be stopped (DuckDB has one writing process)."""
        con = open_database(self.database, self.keys["COLLECTOR_DATABASE_KEY"], read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def close(self) -> None:
        for proc in [*self.ingest, self.loader, self.embedded, *self.nats]:
            if proc is not None:
                proc.kill()

    def logs(self) -> str:
        parts = []
        for proc in [*self.nats, *self.ingest, self.loader, self.embedded]:
            if proc is not None and proc.log.exists():
                parts.append(f"--- {proc.name}\n{proc.tail(15)}")
        return "\n".join(parts)


def wait_http(url: str, proc: Proc, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive:
            raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} is not ready at {url}:\n{proc.tail()}")
        time.sleep(0.1)


async def _stream_info(servers: str) -> Any:
    nc = await nats.connect(servers=servers.split(","), connect_timeout=2)
    try:
        return await nc.jetstream().stream_info("COLLECTOR")
    finally:
        await nc.close()


@dataclass
class Drain:
    """From the first message the loader took to an empty backlog, with the CPU its roles used meanwhile."""

    seconds: float
    loader_cpu: float
    nats_cpu: float


async def _time_drain(servers: str, cluster: Cluster, timeout: float) -> Drain:
    assert cluster.loader is not None
    nc = await nats.connect(servers=servers.split(","), connect_timeout=2)
    try:
        js = nc.jetstream(timeout=5)
        first = await js.consumer_info("COLLECTOR", "collector-loader")
        cluster.resume_loader()
        deadline = time.monotonic() + timeout
        started: tuple[float, float, float] | None = None
        while time.monotonic() < deadline:
            stream = await js.stream_info("COLLECTOR")
            info = await js.consumer_info("COLLECTOR", "collector-loader")
            now = time.monotonic()
            if started is None and info.delivered.stream_seq != first.delivered.stream_seq:
                started = (now, cluster.loader.cpu_seconds(), sum(p.cpu_seconds() for p in cluster.nats))
            left = int(stream.state.messages) + int(info.num_pending or 0) + int(info.num_ack_pending or 0)
            if started is not None and not left:
                return Drain(
                    now - started[0],
                    cluster.loader.cpu_seconds() - started[1],
                    sum(p.cpu_seconds() for p in cluster.nats) - started[2],
                )
            await asyncio.sleep(0.02)
        raise AssertionError(f"the loader did not drain the stream; loader log:\n{cluster.tail_loader()}")
    finally:
        await nc.close()


async def _publish_backlog(servers: str, count: int, per_message: int) -> None:
    request = Request(ip="203.0.113.9", user_agent=UA, hints={}, gpc=False, prefetch=False)
    now = datetime.now(UTC)
    base = build_event({"d": SITE, "u": f"{ORIGIN}/p/0", "l": "en-US", "w": 1280, "h": 800}, None, request, now)
    base = base._replace(
        device=Device(device_type="desktop", os_name="Linux", browser_name="Chrome", browser_version="124")
    )
    step = timedelta(microseconds=1)
    events = [
        base._replace(
            event_id=new_event_id(),
            ts=now + i * step,
            path=f"/p/{i}",
            consented=i % 4 == 0,  # a quarter of consented visitors, as the wrk load sends
            visitor=i % 997 if i % 4 == 0 else random.getrandbits(64),
        )
        for i in range(count)
    ]
    nc = await nats.connect(servers=servers.split(","), connect_timeout=2)
    try:
        js = nc.jetstream(timeout=10)
        pending: set[asyncio.Task[Any]] = set()
        for start in range(0, count, per_message):
            group = events[start : start + per_message]
            payload = encode(group)
            headers = {"Nats-Msg-Id": group[0].event_id}
            pending.add(asyncio.create_task(js.publish(EVENTS_SUBJECT, payload, headers=headers)))
            if len(pending) >= 16:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
        for task in pending:
            await task
    finally:
        await nc.close()


async def _backlog(servers: str) -> int:
    nc = await nats.connect(servers=servers.split(","), connect_timeout=2)
    try:
        js = nc.jetstream(timeout=5)
        stream = await js.stream_info("COLLECTOR")  # work-queue retention: only unacknowledged messages remain
        info = await js.consumer_info("COLLECTOR", "collector-loader")
        return int(stream.state.messages) + int(info.num_pending or 0) + int(info.num_ack_pending or 0)
    finally:
        await nc.close()


class Load:
    """Beacons at collector nodes over keep-alive connections; each event's path is unique and remembered.

    `acked` holds the paths of events whose request got a 202, `sent` every path ever sent.
    """

    def __init__(self, batch: int = 20) -> None:
        self.batch = batch
        self.sent: set[str] = set()
        self.acked: set[str] = set()
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.ack_times: list[float] = []
        self._acked_at: list[tuple[float, list[str]]] = []
        self._seq = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def acked_since(self, t: float) -> list[str]:
        return [p for at, paths in self._acked_at if at > t for p in paths]

    async def run(self, ports: list[int], connections: int, seconds: float | None = None) -> None:
        workers = [self._worker(port, f"{i}-{c}") for i, port in enumerate(ports) for c in range(connections)]
        tasks = [asyncio.create_task(w) for w in workers]
        if seconds is not None:
            await asyncio.sleep(seconds)
            self._stop.set()
        await asyncio.gather(*tasks)

    async def _worker(self, port: int, tag: str) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while not self._stop.is_set():
            if writer is None:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    self.errors += 1
                    await asyncio.sleep(0.05)
                    continue
            assert reader is not None
            paths = []
            for _ in range(self.batch):
                self._seq += 1
                paths.append(f"/t/{tag}/{self._seq}")
            body = (
                b"["
                + b",".join(b'{"d":"example.com","u":"https://example.com' + p.encode() + b'"}' for p in paths)
                + b"]"
            )
            head = (
                f"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {ORIGIN}\r\nUser-Agent: {UA}\r\n"
                f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            self.sent.update(paths)
            try:
                writer.write(head + body)
                status = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                self.errors += 1
                writer.close()
                writer = None
                continue
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if status == 202:
                self.acked.update(paths)
                self.ack_times.append(time.monotonic())
                self._acked_at.append((self.ack_times[-1], paths))
        if writer is not None:
            writer.close()


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status
