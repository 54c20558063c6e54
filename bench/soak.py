"""Soak benchmark: the real collector under a steady load for N minutes; does its memory stay flat?

Run: .venv/bin/python bench/soak.py [--minutes 10] [--connections 32] [--ids 20000] [--pages 5000]
                                     [--database-memory-mb N] [--keep]
     .venv/bin/python bench/soak.py --quick        (about 20 s: four 5-second "minutes", tiny sizes)
wrk drives POST /api/event with one closed-loop connection pool for each minute. The pages, the User-Agents
(6 at a time, their versions move on every minute) and the consented ids (--ids at a time, a window that
slides every minute) keep changing, so a cache without a bound shows up as growth. Along the way: a segment
refresh and a named query every 30 s, an erasure at a third of the run and a salt renewal at two thirds.
Every minute prints the PSS of each process of the collector (the server, its journal process and zygote)
and their sum, each the median of 12 samples taken under the load, then requests/s, p99 and non-2xx answers.
The goals, checked at the end:
  memory flat: the last minute's summed PSS <= 1.05 x the second minute's;
  no 5xx;
  the last minute's p99 no worse than the second minute's.
The exit status is 1 when a goal is missed (with --quick, only for a 5xx or a failed command: four 5-second
minutes say nothing about memory). The per-minute figures are ratios to the second minute, measured in the
same run; the first minute is warm-up (device rules, page caches, the allocator).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from ingest import free_port, wait_ready  # noqa: E402
from memory import snapshot  # noqa: E402

SITE = "example.com"
CONFIG = """
rate_limit_client_per_second = 0
rate_limit_site_per_second = 0
log_level = "warning"

[[sites]]
domain = "example.com"
origins = ["https://example.com"]
"""
# Six User-Agents whose versions move on with the minute: new strings for the device cache every minute.
UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{minute}.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{minute}.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{minor} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{minor} Mobile/15E{minute} Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{minor} Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{major}.0) Gecko/20100101 Firefox/{major}.{minute}",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{major}.0.{minute}.0 Mobile Safari/537.36",
)
# One wrk run per minute. `minute` (the run's number) moves the pages, the UA versions and the id window on,
# so every minute brings new keys for every cache while the load itself stays the same.
LUA = """
local minute = %(minute)d
local pages = %(pages)d
local ids = %(ids)d
local uas = {%(uas)s}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) s4xx = 0; s5xx = 0 end
local i = 0
request = function()
  i = i + 1
  local page = (math.random(pages) + minute * math.floor(pages / 4)) %% (pages * 50)
  local body = '{"d":"example.com","u":"https://example.com/p/' .. page .. '?utm_source=soak","r":"https://news.example.org/x","w":390,"h":844,"l":"en-US","tz":"Europe/Berlin"'
  if i %% 2 == 0 then
    local id = math.random(ids) + minute * math.floor(ids / 10)
    body = body .. ',"id":"soak-' .. string.format("%%08d", id) .. '"'
  end
  body = body .. '}'
  local headers = {["Content-Type"]="text/plain;charset=UTF-8", ["Origin"]="https://example.com"}
  headers["User-Agent"] = uas[math.random(#uas)]
  return wrk.format("POST", "/api/event", headers, body)
end
response = function(status, headers, body)
  if status >= 500 then s5xx = s5xx + 1 elseif status >= 300 then s4xx = s4xx + 1 end
end
done = function(summary, latency, requests)
  local a, b = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("s5xx"); b = b + t:get("s4xx") end
  io.write(string.format("SOAK 5xx=%%d other=%%d\\n", a, b))
end
"""


@dataclass
class Minute:
    number: int
    pss_kib: dict[str, int]
    rps: float
    p99_ms: float
    s5xx: int
    other: int

    @property
    def total_kib(self) -> int:
        return sum(self.pss_kib.values())


@dataclass
class Chores:
    """Refreshes, queries, the erasure and the salt renewal, run by a thread next to the load."""

    cli: list[str]
    log: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def run(self, label: str, *args: str) -> None:
        started = time.monotonic()
        done = subprocess.run([*self.cli, *args], capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            self.failures.append(f"{label}: exit {done.returncode}: {done.stderr.strip()[-300:]}")
        self.log.append(f"{label} {seconds:.1f}s")


SAMPLES = 12


def processes(server: int) -> dict[str, int]:
    """The PSS in KiB of the server and every process under it, by "role pid" (bench/memory.py's roles)."""
    return {f"{role.split()[0]} {pid}": round(mb * 1024) for pid, (role, mb) in snapshot(server).items()}


def run_minute(url: str, script: Path, seconds: float, connections: int, server: int) -> Minute:
    """One minute of load. The PSS is sampled 12 times while the load runs and the median sample is kept: a
    refresh or a query running at one instant would otherwise decide the minute's figure."""
    wrk = subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "-s", str(script), url + "/api/event"],
        stdout=subprocess.PIPE,
        text=True,
    )
    samples = []
    started = time.monotonic()
    for k in range(1, SAMPLES + 1):
        time.sleep(max(0.0, started + k * (seconds - 0.5) / SAMPLES - time.monotonic()))
        samples.append(processes(server))
    samples.sort(key=lambda sample: sum(sample.values()))
    pss = samples[len(samples) // 2]
    out, _ = wrk.communicate(timeout=seconds + 30)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    statuses = re.search(r"SOAK 5xx=(\d+) other=(\d+)", out)
    if not (rps and p99 and statuses):
        raise RuntimeError(f"wrk printed no figures:\n{out}")
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return Minute(0, pss, float(rps.group(1)), p99_ms, int(statuses.group(1)), int(statuses.group(2)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--ids", type=int, default=20_000, help="consented ids at a time")
    parser.add_argument("--pages", type=int, default=5_000, help="pages at a time")
    parser.add_argument(
        "--database-memory-mb", type=int, help="the collector's database_memory_mb (default: the collector's own)"
    )
    parser.add_argument("--quick", action="store_true", help="four 5-second minutes, 200 ids, 100 pages")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and the server's log")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still stop the server (finally below)
    if shutil.which("wrk") is None:
        print("bench/soak.py needs wrk (Debian package wrk)", file=sys.stderr)
        return 2
    minute_seconds = 5.0 if args.quick else 60.0
    minutes = 4 if args.quick else args.minutes
    ids, pages, connections = (200, 100, 8) if args.quick else (args.ids, args.pages, args.connections)
    if minutes < 3:
        parser.error("--minutes must be at least 3: the first is warm-up, the second the baseline")

    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    config = tmp / "collector.toml"
    memory = f"database_memory_mb = {args.database_memory_mb}\n" if args.database_memory_mb else ""
    config.write_text(memory + CONFIG)
    data_dir = tmp / "data"
    port = free_port()
    where = ["--config", str(config), "--data-dir", str(data_dir)]
    cli = [sys.executable, "-m", "collector"]
    log = tmp / "collector.log"
    with log.open("wb") as stderr:
        server = subprocess.Popen(
            [*cli, "serve", *where, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=stderr
        )
    url = f"http://127.0.0.1:{port}"
    chores = Chores([*cli])
    stop = threading.Event()
    results: list[Minute] = []
    print(
        f"soak: {minutes} x {minute_seconds:.0f} s, wrk -t1 -c{connections}, {ids} consented ids and {pages} pages"
        f" at a time, 6 UAs, {os.cpu_count()} cores"
    )
    try:
        try:
            wait_ready(url, server)
        except RuntimeError as exc:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            print(f"the collector did not start ({exc}); its log ends with:", *tail, sep="\n  ", file=sys.stderr)
            return 2
        total = minutes * minute_seconds
        plan = [(at, "segments refresh", ("segments", "refresh", *where)) for at in _every(30.0, total, args.quick)]
        plan += [(at + 1, "query pages", ("query", "pages", "--format", "csv", *where)) for at, *_ in plan]
        plan.append((total / 3, "erase", ("erase", "--site", SITE, "--visitor-id", "soak-00000042", *where)))
        plan.append((total * 2 / 3, "salt renewal", ("salts", "renew", *where)))
        plan.sort()
        worker = threading.Thread(target=_chores, args=(chores, plan, stop), daemon=True)
        worker.start()
        print(
            f"{'minute':>6}{'PSS MiB':>9}{'x 2nd':>7}{'req/s':>8}{'p99 ms':>8}{'5xx':>6}{'other':>6}  per process (MiB)"
        )
        for number in range(1, minutes + 1):
            script = tmp / f"minute{number}.lua"
            versions = {"minute": number, "major": 120 + number % 20, "minor": number % 7}
            uas = ", ".join(f'"{ua.format(**versions)}"' for ua in UAS)
            script.write_text(LUA % {"minute": number, "pages": pages, "ids": ids, "uas": uas})
            result = run_minute(url, script, minute_seconds, connections, server.pid)
            result.number = number
            results.append(result)
            baseline = results[1].total_kib if len(results) > 1 else result.total_kib
            each = ", ".join(f"{name} {kib / 1024:.0f}" for name, kib in sorted(result.pss_kib.items()))
            print(
                f"{number:>6}{result.total_kib / 1024:>9.0f}{result.total_kib / baseline:>7.3f}{result.rps:>8.0f}"
                f"{result.p99_ms:>8.1f}{result.s5xx:>6}{result.other:>6}  {each}",
                flush=True,
            )
        stop.set()
        worker.join(timeout=120)
    finally:
        stop.set()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    return _verdict(results, chores, log, tmp, quick=args.quick, keep=args.keep)


def _every(period: float, total: float, quick: bool) -> list[float]:
    if quick:
        return [total / 4, total / 2]
    return [period * k for k in range(1, int(total // period))]


def _chores(chores: Chores, plan: list[tuple[float, str, tuple[str, ...]]], stop: threading.Event) -> None:
    started = time.monotonic()
    for at, label, command in plan:
        if stop.wait(max(0.0, at - (time.monotonic() - started))):
            return
        chores.run(label, *command)


def _verdict(results: list[Minute], chores: Chores, log: Path, tmp: Path, *, quick: bool, keep: bool) -> int:
    second, last = results[1], results[-1]
    memory = last.total_kib / second.total_kib
    s5xx = sum(r.s5xx for r in results)
    goals = [
        (f"memory flat: last minute's PSS / second's = {memory:.3f} (goal <= 1.05)", memory <= 1.05),
        (f"no 5xx: {s5xx}", s5xx == 0),
        (f"p99: last {last.p99_ms:.1f} ms, second {second.p99_ms:.1f} ms", last.p99_ms <= second.p99_ms),
    ]
    for text, met in goals:
        print(f"{'met   ' if met else 'MISSED'} {text}")
    print(f"chores: {'; '.join(chores.log)}")
    for failure in chores.failures:
        print(f"FAILED {failure}")
    complaints = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    for line in complaints[:5]:
        print(f"  server log: {line[:300]}")
    if keep or complaints or chores.failures:
        print(f"the data dir and the server's log are kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    if chores.failures or s5xx:
        return 1
    return 0 if quick or all(met for _, met in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
