"""Memory of the whole collector: the proportional set size (PSS) of every process, idle and at peak.

Run: .venv/bin/python bench/memory.py [--seconds 20] [--connections 64] [--distinct-uas 3000] [--events N] [--quick]

Starts `collector serve` on a fresh data directory and times it to the first /healthz 200 (the rules
cache as this machine has it: warm after any earlier run). Then it drives bench/ingest.py's load (wrk,
Zipf-drawn User-Agents) and samples every process of the collector (the server, the zygote, the journal
process and whatever else runs under it) each 0.2 s; prints each process's PSS and the total at its
peak under load and idle, after the load and a pause. PSS counts a page shared by forked processes
once, split between them, so the sum is what the collector takes from the machine. `--events 10000000`
first fills the database as bench/ingest.py's `--events` does (minutes more). `--quick` runs
seconds with a few hundred synthetic User-Agents.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import CONFIG, LUA, fill, free_port, run_wrk, user_agents

SAMPLE_SECONDS = 0.2


def descendants(pid: int) -> list[int]:
    """The process and every process under it, by /proc's children lists (every thread's)."""
    found = [pid]
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                for child in (task / "children").read_text().split():
                    found += descendants(int(child))
    return found


def pss_mb(pid: int) -> float | None:
    """The process's proportional set size in MB; None once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def role(pid: int, server: int) -> str:
    if pid == server:
        return "server"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return "exited"
    if "collector.durable.zygote" in command:
        # The zygote and the journal processes it forks share its command line; a fork's parent is the zygote.
        parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        return "journal process" if int(parent) != server else "zygote"
    return command.split(" ")[0].rsplit("/", 1)[-1] or "other"


def snapshot(server: int) -> dict[int, tuple[str, float]]:
    out = {}
    for pid in descendants(server):
        size = pss_mb(pid)
        if size is not None:
            out[pid] = (role(pid, server), size)
    return out


def total(snap: dict[int, tuple[str, float]]) -> float:
    return sum(size for _, size in snap.values())


class Sampler(threading.Thread):
    """Samples the collector's processes until stopped; keeps the snapshot with the largest total."""

    def __init__(self, server: int) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.peak: dict[int, tuple[str, float]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_SECONDS):
            snap = snapshot(self.server)
            if total(snap) > total(self.peak):
                self.peak = snap


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> float:
    """Seconds from now until /healthz answers 200."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise SystemExit("the collector exited during start-up")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return time.monotonic() - start
        time.sleep(0.02)
    raise SystemExit("the collector did not answer /healthz")


def show(title: str, snap: dict[int, tuple[str, float]]) -> None:
    parts = ", ".join(f"{name} {size:.0f}" for _, (name, size) in sorted(snap.items()))
    print(f"{title:<22}{total(snap):>8.0f} MB   ({parts})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20, help="seconds of load")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--distinct-uas", type=int, default=3000)
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="pause after the load before idle")
    parser.add_argument("--events", type=int, default=0, help="synthetic events in the database before the start")
    parser.add_argument("--quick", action="store_true", help="a few seconds, a few hundred User-Agents")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.distinct_uas, args.idle_seconds, args.connections = 2, 300, 1.0, 16
    if shutil.which("wrk") is None:
        raise SystemExit("bench/memory.py needs wrk (Debian package `wrk`)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> None:
    uas = user_agents(args.distinct_uas, 20_000, real_ones=not args.quick)
    script = tmp / "post.lua"
    script.write_text(LUA % ",".join('"' + ua.replace('"', '\\"') + '"' for ua in uas))
    (tmp / "collector.toml").write_text(CONFIG)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "collector", "serve", "--config", str(tmp / "collector.toml")]
    cmd += ["--data-dir", str(tmp / "data"), "--port", str(port)]
    env = {**os.environ, "COLLECTOR_LOG_LEVEL": "warning"}
    if args.events:
        fill(tmp, tmp / "data", args.events)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        startup = wait_healthy(url, proc)
        print(f"start-up: `collector serve` to /healthz 200 in {startup:.2f} s")
        show("after start-up", snapshot(proc.pid))
        sampler = Sampler(proc.pid)
        sampler.start()
        result = run_wrk(url, script, args.seconds, args.connections)
        sampler.done.set()
        sampler.join()
        time.sleep(args.idle_seconds)
        idle = snapshot(proc.pid)
        print(
            f"load: wrk -t1 -c{args.connections} for {args.seconds} s, {args.distinct_uas} distinct User-Agents:"
            f" {result['rps']:.0f} req/s, p99 {result['p99_ms']:.1f} ms, {result['errors']:.0f} non-2xx"
        )
        show("peak under load", sampler.peak)
        show("idle after the load", idle)
        print(f"total PSS: idle {total(idle):.0f} MB, peak {total(sampler.peak):.0f} MB")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
