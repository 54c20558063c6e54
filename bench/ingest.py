"""Ingest benchmark: the real collector against a no-op Starlette endpoint, same uvicorn settings, same load.

Run: .venv/bin/python bench/ingest.py [--seconds 10] [--connections 64] [--rounds 2] [--events N] [--quick]
(about 60 s). Drives each server from a separate process: wrk if installed (Debian package `wrk`), else an
async load generator. Prints requests/s, p50/p99 latency, events stored per second and the ratio
collector/no-op, for each round (no-op, then collector) and their median: on these machines the no-op alone
varies by a third between back-to-back runs, so one pair says little. Under each collector row: the
journal's group commits and the DuckDB loads (µs per event loaded, hooks included). The collector's log
lines above info (a journal process that exited, a failed write) are printed under its row, and its logs kept.

`--events N` fills a database with N of bench/queries.py's synthetic events over 90 days (their daily
counts, rollups and the profiles a consented share of them builds) once, then each round runs a third
server on a copy of it: the same collector, the same load, with a large database (the empty and the
large database take turns going first). 10 M events take 1 to 2 minutes to write.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
NOOP = """
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def event(request):
    await request.body()
    return Response(status_code=202)

app = Starlette(routes=[Route("/api/event", event, methods=["POST"]), Route("/healthz", lambda r: Response("ok"))])
uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), loop="uvloop", http="httptools",
            access_log=False, server_header=False, log_level="warning")
"""
# One address plays thousands of visitors here: the per-client limit is set high enough that it never bites
# (it still runs on every request, so its cost is in the numbers; bench/ratelimit.py isolates it).
CONFIG = """
rate_limit_client_per_second = 1000000
rate_limit_client_burst = 1000000
rate_limit_site_per_second = 1000000
rate_limit_site_burst = 1000000

[[sites]]
domain = "example.com"
origins = ["https://example.com"]
"""
LUA = """
local uas = {%s}
local n = #uas
local i = 0
request = function()
  i = i + 1
  local ua = uas[math.random(n)]
  local body = '{"d":"example.com","u":"https://example.com/p/' .. (i %% 500) .. '?utm_source=bench","r":"https://news.example.org/x","w":390,"h":844,"l":"en-US","tz":"Europe/Berlin"}'
  local headers = {["Content-Type"]="text/plain;charset=UTF-8", ["Origin"]="https://example.com"}
  headers["User-Agent"] = ua
  return wrk.format("POST", "/api/event", headers, body)
end
"""


def real_user_agents() -> list[str]:
    """Human UAs from the uap-core test corpus (fetched by bench/devices.py's helper), or [] when unavailable."""
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from devices import UAP, ensure_uap, load_yaml

        ensure_uap()
        cases = load_yaml(UAP / "test_device.yaml")["test_cases"]
    except Exception as exc:  # the bench still runs on synthetic UAs
        print(f"(uap-core corpus unavailable: {exc}; using synthetic UAs)")
        return []
    seen = dict.fromkeys(
        ua
        for c in cases
        if c["family"] != "Spider"
        and (ua := c["user_agent_string"]).isascii()
        and ua.isprintable()
        and '"' not in ua
        and "\\" not in ua
    )
    return list(seen)


def user_agents(distinct: int, draws: int, seed: int = 7, real_ones: bool = True) -> list[str]:
    """A Zipf-like draw over `distinct` UA strings: real ones from uap-core when available (and wanted),
    else synthetic."""
    rng = random.Random(seed)
    real = real_user_agents() if real_ones else []
    if len(real) >= distinct:
        pool = rng.sample(real, distinct)
        weights = [1 / (rank + 1) for rank in range(distinct)]
        return rng.choices(pool, weights=weights, k=draws)
    models = ["SM-A515F", "SM-G991B", "Pixel 7", "Redmi Note 8", "CPH2219", "moto g(20)", "SM-A750FN", "K"]
    pool = []
    for i in range(distinct):
        kind = i % 4
        major = 100 + i % 31
        build = i // 4
        if kind == 0:
            pool.append(
                f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{major}.0.{build}.0 Safari/537.36"
            )
        elif kind == 1:
            pool.append(
                f"Mozilla/5.0 (Linux; Android {10 + i % 5}; {models[i % len(models)]}) AppleWebKit/537.36 "
                f"(KHTML, like Gecko) Chrome/{major}.0.{build}.0 Mobile Safari/537.36"
            )
        elif kind == 2:
            pool.append(
                f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_{i % 7} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/17.{i % 7} Mobile/15E{build} Safari/604.1"
            )
        else:
            pool.append(
                f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                f"Version/{15 + i % 4}.{build % 10} Safari/605.1.15"
            )
    weights = [1 / (rank + 1) for rank in range(distinct)]
    return rng.choices(pool, weights=weights, k=draws)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited during start-up")
        try:
            health = httpx.get(url + "/healthz", timeout=1)
            # Ready means the journal process holds the device-brand rules (each brand's model rules load on
            # first sight, as they do in a server that has run for a while).
            is_json = health.headers.get("content-type", "").startswith("application/json")
            if health.status_code == 200 and (not is_json or health.json().get("device_rules") == "complete"):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not start")


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url + "/api/event"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "requests": total,
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1)),  # type: ignore[union-attr]
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def _ms(text: str) -> float:
    value = float(re.match(r"[\d.]+", text).group(0))  # type: ignore[union-attr]
    unit = text[len(re.match(r"[\d.]+", text).group(0)) :]  # type: ignore[union-attr]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_async_load(url: str, uas: list[str], seconds: int, connections: int) -> dict[str, float]:
    """Fallback when wrk is missing: an async generator in a separate process."""
    code = f"""
import asyncio, time, json, sys, httpx, random
uas = json.loads(sys.stdin.read())
lat = []; n = 0; errors = 0
async def worker(client, stop):
    global n, errors
    i = 0
    while time.monotonic() < stop:
        i += 1
        body = '{{"d":"example.com","u":"https://example.com/p/%d"}}' % (i % 500)
        h = {{"Content-Type": "text/plain", "Origin": "https://example.com", "User-Agent": random.choice(uas)}}
        t = time.perf_counter()
        r = await client.post("{url}/api/event", content=body, headers=h)
        lat.append(time.perf_counter() - t); n += 1
        errors += r.status_code != 202
async def main():
    stop = time.monotonic() + {seconds}
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections={connections})) as c:
        await asyncio.gather(*(worker(c, stop) for _ in range({connections})))
asyncio.run(main())
lat.sort()
print(json.dumps({{"rps": n / {seconds}, "requests": n, "p50_ms": lat[len(lat)//2]*1000,
                  "p99_ms": lat[int(len(lat)*0.99)]*1000, "errors": errors}}))
"""
    import json

    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(uas[:2000]), capture_output=True, text=True)
    return dict(json.loads(out.stdout))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads (DuckDB's and the loader's) and its live children
    (the collector's journal process)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(FileNotFoundError):  # exited meanwhile
                total += cpu_seconds(int(child))
    return total


METRICS = {
    "collector_device_cache_misses_total": "misses",
    "collector_batch_commit_seconds_sum": "commit_s",
    "collector_batch_commit_seconds_count": "commits",
    "collector_load_seconds_total": "load_s",
    "collector_loaded_events_total": "loaded",
}


def server_metrics(url: str, token: str | None) -> dict[str, float]:
    """The collector's own counters (device cache misses, journal commits); {} for the no-op."""
    if token is None:
        return {}
    text = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in METRICS:
            found[METRICS[name]] = float(value)
    return found


def admin_token(config: Path, data_dir: Path) -> str:
    """A token for /metrics, created through the running server (the CLI goes through its admin socket)."""
    where = ["--config", str(config), "--data-dir", str(data_dir)]
    out = subprocess.run(
        [sys.executable, "-m", "collector", "token", "create", *where, "--name", "bench", "--scope", "admin"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().splitlines()[-1]


def measure(
    cmd: list[str],
    port: int,
    args: argparse.Namespace,
    script: Path,
    uas: list[str],
    token: Callable[[], str] | None = None,
    log: Path | None = None,
) -> dict[str, float]:
    with contextlib.ExitStack() as stack:
        stderr = stack.enter_context(log.open("wb")) if log else subprocess.DEVNULL
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
        return _measure(proc, port, args, script, uas, token, started)


def _measure(
    proc: subprocess.Popen[bytes],
    port: int,
    args: argparse.Namespace,
    script: Path,
    uas: list[str],
    token: Callable[[], str] | None,
    started: float,
) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        ready = time.monotonic() - started
        bearer = token() if token else None
        if shutil.which("wrk"):
            run_wrk(url, script, args.warmup, args.connections)  # warm-up: caches, allocator, salts
            before = cpu_seconds(proc.pid)
            counters = server_metrics(url, bearer)
            result = run_wrk(url, script, args.seconds, args.connections)
            result["cpu_us"] = (cpu_seconds(proc.pid) - before) / max(1, result["requests"]) * 1e6
            after = server_metrics(url, bearer)
            result.update({k: v - counters.get(k, 0.0) for k, v in after.items()})
        else:
            result = run_async_load(url, uas, args.seconds, args.connections)
            result["cpu_us"] = float("nan")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    result["ready_s"] = ready
    return result


def complaints(log: Path) -> list[str]:
    """The server's log lines at warning level or above: a healthy run has none."""
    return [line for line in log.read_text(errors="replace").splitlines() if '"level":"info"' not in line]


def stored_events(data_dir: Path) -> int:
    sys.path.insert(0, str(ROOT))
    from collector.identifiers.keys import load_keys
    from collector.storage.store import open_database

    keys = load_keys(data_dir / "collector.key", create=False)
    con = open_database(data_dir / "collector.duckdb", keys.database_key, read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


def collector_cmd(tmp: Path, data_dir: Path, port: int) -> list[str]:
    cmd = [sys.executable, "-m", "collector", "serve", "--config", str(tmp / "collector.toml")]
    return [*cmd, "--data-dir", str(data_dir), "--port", str(port)]


def fill(tmp: Path, data_dir: Path, events: int) -> None:
    """A data directory the collector created (key and database), then `events` of bench/queries.py's
    synthetic events over 90 days in its database, with what a long-running collector keeps beside them:
    daily counts, rollups, and the profiles of their consented visitors."""
    sys.path.insert(0, str(ROOT))
    from datetime import UTC, datetime, timedelta

    from collector.identifiers.keys import load_keys
    from collector.segments.profiles import UPSERT_EVENTS, UPSERT_PROFILES, UPSERT_SECTIONS
    from collector.stats import breakdowns
    from collector.storage.store import open_database
    from queries import DAYS, GENERATE

    port = free_port()
    first = subprocess.Popen(collector_cmd(tmp, data_dir, port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}", first)
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    started = time.perf_counter()
    keys = load_keys(data_dir / "collector.key", create=False)
    con = open_database(data_dir / "collector.duckdb", keys.database_key, memory_mb=1024)
    try:
        start = datetime.combine(datetime.now(UTC).date() - timedelta(days=DAYS - 1), datetime.min.time())
        con.execute(GENERATE, {"n": events, "days": DAYS, "start": start})
        con.execute("INSERT INTO daily_counts SELECT site, ts::DATE, name, count(*) FROM events GROUP BY ALL")
        breakdowns.refresh(con, throttle=False)
        con.execute("CREATE TEMP VIEW _batch AS SELECT * FROM events")  # the load hook's statements, all at once
        for upsert in (UPSERT_PROFILES, UPSERT_SECTIONS, UPSERT_EVENTS):
            con.execute(upsert)
        con.execute("DROP VIEW _batch")
        con.execute("CHECKPOINT")
        profiles = con.execute("SELECT count(*) FROM profiles").fetchone()
    finally:
        con.close()
    took = time.perf_counter() - started
    count = profiles[0] if profiles else 0
    print(f"database: {events:,} synthetic events ({count:,} profiles) written in {took:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--distinct-uas", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=3, help="seconds of the same load before measuring")
    parser.add_argument(
        "--rounds", type=int, default=2, help="no-op then collector, this many times (the no-op varies)"
    )
    parser.add_argument("--events", type=int, default=0, help="also a collector with this many events stored")
    parser.add_argument("--quick", action="store_true", help="one round of 2 s, a few hundred synthetic UAs")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.rounds, args.distinct_uas, args.connections = 2, 1, 1, 300, 16
    load_before = f"{os.getloadavg()[0]:.2f}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    uas = user_agents(args.distinct_uas, 20_000, real_ones=not args.quick)
    script = tmp / "post.lua"
    script.write_text(LUA % ",".join('"' + ua.replace('"', '\\"') + '"' for ua in uas))
    (tmp / "collector.toml").write_text(CONFIG)
    (tmp / "noop.py").write_text(NOOP)
    tool = f"wrk -t1 -c{args.connections}" if shutil.which("wrk") else "async httpx generator"
    uas_note = f"{args.distinct_uas} distinct UAs (Zipf draw)"
    print(f"load: {tool}, {args.seconds}s per server, {uas_note}, {os.cpu_count()} cores")

    filled = tmp / "filled"
    if args.events:
        fill(tmp, filled, args.events)
    head = f"{'server':<14}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'stored/s':>10}{'CPU us/req':>12}"
    print(head)
    os.environ["COLLECTOR_LOG_LEVEL"] = "warning"
    ratios: dict[str, list[float]] = {"collector": [], "large database": []}
    keep = False  # the servers' logs, when one complained
    for round_ in range(1, args.rounds + 1):
        port = free_port()
        noop = measure([sys.executable, str(tmp / "noop.py"), str(port)], port, args, script, uas)
        print_row(f"no-op ({round_})", noop, None, args)
        kinds = ("collector", "large database") if args.events else ("collector",)
        for kind in kinds if round_ % 2 else kinds[::-1]:  # each goes first in every other round
            data_dir = tmp / f"data{round_}-{kind.replace(' ', '-')}"
            if kind != "collector":
                shutil.copytree(filled, data_dir)
                os.sync()  # the copy's write-back would otherwise run beside this server's round only
            before = stored_events(data_dir) if kind != "collector" else 0
            port = free_port()
            token = functools.partial(admin_token, tmp / "collector.toml", data_dir)
            log = tmp / f"{kind.replace(' ', '-')}{round_}.log"
            real = measure(collector_cmd(tmp, data_dir, port), port, args, script, uas, token, log)
            stored = stored_events(data_dir) - before
            shutil.rmtree(data_dir, ignore_errors=True)
            print_row(f"{'collector' if kind == 'collector' else f'{args.events:,} ev'} ({round_})", real, stored, args)
            for line in complaints(log)[:5]:
                print(f"  server log: {line[:300]}")
                keep = True
            ratios[kind].append(real["rps"] / noop["rps"])
            if "commits" in real:
                print_window(real)
    for kind, found in ratios.items():
        if found:
            each = ", ".join(f"{r:.2f}" for r in found)
            print(f"ratio {kind}/no-op: {statistics.median(found):.2f} (median of the rounds: {each})")
    print(f"load average before the run: {load_before}; after: {os.getloadavg()[0]:.2f}")
    if keep:
        print(f"the collector's logs are kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def print_window(real: dict[str, float]) -> None:
    misses, commits = int(real["misses"]), max(1.0, real["commits"])
    print(
        f"  measured window: {misses} device-cache misses ({misses / max(1, real['requests']):.2%} of"
        f" requests), {commits:.0f} journal commits of {real['requests'] / commits:.1f} requests on"
        f" average, {real['commit_s'] / commits * 1000:.2f} ms each (write + fdatasync)"
    )
    if real.get("loaded"):
        print(
            f"  DuckDB loads: {real['loaded']:.0f} events, {real['load_s'] / real['loaded'] * 1e6:.1f} µs per event"
            f" (insert, hooks and commit); start-up to /healthz 200 in {real['ready_s']:.2f} s"
        )


def print_row(name: str, result: dict[str, float], stored: int | None, args: argparse.Namespace) -> None:
    per_second = f"{stored / (args.seconds + args.warmup):.0f}" if stored is not None else "-"
    print(
        f"{name:<14}{result['rps']:>10.0f}{result['p50_ms']:>9.2f}{result['p99_ms']:>9.2f}{result['errors']:>9.0f}"
        f"{per_second:>10}{result['cpu_us']:>12.0f}"
    )


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
