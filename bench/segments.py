"""Segments benchmark: 1 M profiles, the shipped definitions (about 20 segments), lookups against a no-op.

Run: .venv/bin/python bench/segments.py [--profiles 1000000] [--seconds 8] [--connections 16] [--keep DIR]
(--keep reuses the loaded data dir from an earlier run with the same --profiles: no load or cold refresh.)
1. Loads the profiles into a real, encrypted data dir and times a cold refresh (every member inserted)
   and the index build, in process.
2. Starts the real server (uvicorn, uvloop/httptools, no access log) and times a steady refresh through
   the admin socket (what the scheduler does every minute).
3. Drives GET /api/segments (random ids among the 1 M, a segments:read token) and a no-op Starlette
   endpoint under the same settings with wrk: p50/p99 and req/s, and the ratio.
4. Drives ingest twice, alone and during a refresh, to show whether a refresh stalls ingest.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ingest as ingest_bench  # noqa: E402

from collector.access.auth import create_token  # noqa: E402
from collector.admin import channel as admin  # noqa: E402
from collector.http.runtime import open_runtime  # noqa: E402
from collector.identifiers.visitor import consented_visitor  # noqa: E402
from collector.segments.definitions import load_definitions, refresh  # noqa: E402
from collector.segments.index import build_index  # noqa: E402
from collector.settings import load_settings  # noqa: E402

SITE = "example.com"
NOOP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def segments(request):
    return Response(b'{"segments":[]}', media_type="application/json")

app = Starlette(routes=[Route("/api/segments", segments), Route("/healthz", lambda r: Response("ok"))])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
            access_log=False, server_header=False, log_level="warning")
"""
LOOKUP_LUA = """
request = function()
  local path = "/api/segments?site=example.com&visitor=bench-" .. string.format("%%08d", math.random(0, %d))
  return wrk.format("GET", path, {["Authorization"] = "Bearer %s"})
end
"""
LOAD_PROFILES = """
INSERT INTO profiles
SELECT $site, visitor, $now - to_days(CAST(i % 60 AS INTEGER)) - to_hours(5),
       $now - to_minutes(CAST(i % 1440 AS INTEGER)), 1 + i % 5, 1 + i % 9,
       1 + i % 40, i % 4, ['mobile', 'mobile', 'mobile', 'desktop', 'desktop', 'tablet'][1 + i % 6], NULL, NULL,
       ['iOS', 'Android', 'Windows'][1 + i % 3], 'Chrome', 'small', ['vi-VN', 'en-US', 'fr', 'de', 'ja'][1 + i % 5],
       'Asia/Ho_Chi_Minh', NULL, CASE i % 7 WHEN 0 THEN 'newsletter' WHEN 1 THEN 'facebook' WHEN 2 THEN 'google' END,
       NULL, NULL
FROM ids
"""
LOAD_SECTIONS = """
INSERT INTO profile_sections
SELECT $site, visitor, CAST($now AS DATE) - CAST(k * 9 + i % 9 AS INTEGER),
       ['', 'shoes', 'bags', 'sale', 'blog'][1 + (i + k) % 5],
       1 + (i * 7 + k) % 6, (i + k) % 2
FROM ids, range(1 + i % 3) r(k)
"""
LOAD_EVENTS = """
INSERT INTO profile_events
SELECT $site, visitor, CAST($now AS DATE) - CAST(i % 20 AS INTEGER), 'signup', 1 FROM ids WHERE i % 4 = 0
UNION ALL
SELECT $site, visitor, CAST($now AS DATE) - CAST(i % 40 AS INTEGER), 'add_to_cart', 2 FROM ids WHERE i % 6 = 0
"""


def load(settings: Any, profiles: int) -> tuple[str, dict[str, Any]]:
    """Fill the data dir; return a segments:read token and the in-process timings."""
    rt = open_runtime(settings)
    con = rt.con
    now = datetime.now(UTC).replace(tzinfo=None)
    started = time.perf_counter()
    visitors = [consented_visitor(rt.keys.pepper, SITE, f"bench-{i:08d}") for i in range(profiles)]
    ids = pa.table({"i": pa.array(range(profiles), pa.int64()), "visitor": pa.array(visitors, pa.uint64())})
    con.register("ids", ids)
    for sql in (LOAD_PROFILES, LOAD_SECTIONS, LOAD_EVENTS):
        con.execute(sql, {"site": SITE, "now": now})
    con.unregister("ids")
    _, token = create_token(con, "bench", ["segments:read"], [SITE])
    con.execute("CHECKPOINT")
    loaded = time.perf_counter() - started
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("profiles", "profile_sections")}  # type: ignore[index]
    started, cpu = time.perf_counter(), time.process_time()
    results = refresh(con, [SITE], load_definitions(), now)
    cold, cold_cpu = time.perf_counter() - started, time.process_time() - cpu
    cpu = time.process_time()
    index = build_index(con)
    index_cpu = time.process_time() - cpu
    members = con.execute("SELECT count(*) FROM segment_members").fetchone()[0]  # type: ignore[index]
    rt.close()
    timings = {
        "load_s": loaded,
        "rows": counts,
        "segments": sorted(n for r in results for n in r.sizes),
        "members": members,
        "cold_refresh_s": cold,
        "cold_refresh_cpu_s": cold_cpu,
        "index_build_s": index.build_ms / 1000,
        "index_build_cpu_s": index_cpu,
    }
    return token, timings


def serve(cmd: list[str], url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ingest_bench.wait_ready(url, proc)  # the collector answers once its index is loaded
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def drive(url: str, script: Path, seconds: int, connections: int, pid: int, warmup: int = 1) -> dict[str, float]:
    """wrk against the server (after a warm-up), with the server's CPU per request (all its threads)."""
    if warmup:
        ingest_bench.run_wrk(url, script, warmup, connections)
    before = ingest_bench.cpu_seconds(pid)
    result = ingest_bench.run_wrk(url, script, seconds, connections)
    result["cpu_us"] = (ingest_bench.cpu_seconds(pid) - before) / max(1, result["requests"]) * 1e6
    return result


def computed_at(url: str, token: str) -> str | None:
    params = {"site": SITE, "visitor": "bench-00000000"}
    r = httpx.get(f"{url}/api/segments", params=params, headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    at: str | None = r.json()["computed_at"]
    return at


def _instant(text: str) -> datetime:
    """A time as the API or the admin channel writes it (with Z, an offset or neither: UTC)."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def wait_for_index(url: str, token: str, settings: Any, timeout: float = 20.0) -> float:
    """Seconds until the server's index shows the latest stored refresh (then one more tick)."""
    started = time.perf_counter()
    listed = admin.call(settings, "segments.list", {"site": SITE})
    latest = max(_instant(r["computed_at"]) for r in listed)
    while (seen := computed_at(url, token)) is None or _instant(seen) != latest:
        if time.perf_counter() - started > timeout:
            sys.exit(f"the server did not pick up the refresh: its index is of {seen}, the refresh of {latest}")
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    time.sleep(1.0)
    return elapsed


def row(name: str, r: dict[str, float]) -> str:
    return f"{name:<26}{r['rps']:>10.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['errors']:>9.0f}{r['cpu_us']:>12.0f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--keep", type=Path, help="keep the loaded data in this folder (reused when present)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check in seconds that the bench runs")
    args = parser.parse_args()
    if args.quick:
        args.profiles = 5_000
        args.seconds = 1
        args.connections = 4
    phase = 1 if args.quick else 4  # seconds of each phase around a refresh
    load_before = f"{os.getloadavg()[0]:.2f}"
    if not shutil.which("wrk"):
        sys.exit("bench/segments.py needs wrk (Debian package wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-segments-"))
    (tmp / "collector.toml").write_text(ingest_bench.CONFIG)
    (tmp / "noop.py").write_text(NOOP)
    data_dir = (args.keep / f"data-{args.profiles}") if args.keep else tmp / "data"
    kept = data_dir / "bench-token"
    settings = load_settings(tmp / "collector.toml", env={}, data_dir=data_dir, log_level="warning")
    if kept.exists():
        token = kept.read_text()
        print(f"reusing {data_dir} ({args.profiles:,} profiles): load and cold refresh not timed")
    else:
        token, t = load(settings, args.profiles)
        if args.keep:
            kept.write_text(token)
        rows = t["rows"]
        print(f"loaded {rows['profiles']:,} profiles, {rows['profile_sections']:,} section rows in {t['load_s']:.1f}s")
        print(f"{len(t['segments'])} segments: {', '.join(t['segments'])}")
        print(
            f"cold refresh (all {t['members']:,} members inserted): {t['cold_refresh_s']:.2f}s "
            f"(cpu {t['cold_refresh_cpu_s']:.2f}s); index build from the table: {t['index_build_s']:.2f}s "
            f"(cpu {t['index_build_cpu_s']:.2f}s)"
        )

    lookup = tmp / "lookup.lua"
    lookup.write_text(LOOKUP_LUA % (args.profiles - 1, token))
    port = ingest_bench.free_port()
    url = f"http://127.0.0.1:{port}"
    proc = serve([sys.executable, str(tmp / "noop.py"), str(port)], url)
    try:
        noop = drive(url, lookup, args.seconds, args.connections, proc.pid)
    finally:
        stop(proc)

    port = ingest_bench.free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "collector", "serve", "--config", str(tmp / "collector.toml")]
    started = time.perf_counter()
    proc = serve([*cmd, "--data-dir", str(data_dir), "--port", str(port)], url)
    startup = time.perf_counter() - started
    try:
        steady = admin.call(settings, "segments.refresh", {})  # waits for the scheduler's first refresh too
        steady_s = sum(r["ms"] for r in steady) / 1000
        # The CLI's refresh wrote the members; the server notices within a second and re-reads its index.
        swapped = wait_for_index(url, token, settings)
        real = drive(url, lookup, args.seconds, args.connections, proc.pid)
        refresher = threading.Thread(target=lambda: [time.sleep(0.5), admin.call(settings, "segments.refresh", {})])
        refresher.start()
        real_during = drive(url, lookup, phase, args.connections, proc.pid, warmup=0)
        refresher.join()
        wait_for_index(url, token, settings)

        ingest_script = tmp / "post.lua"
        uas = ingest_bench.user_agents(300, 2000)
        ingest_script.write_text(ingest_bench.LUA % ",".join('"' + ua.replace('"', '\\"') + '"' for ua in uas))
        # The warm-up is long because device rules compile on first use.
        alone = drive(url, ingest_script, phase, args.connections, proc.pid, warmup=phase)
        refresher = threading.Thread(target=lambda: [time.sleep(0.5), admin.call(settings, "segments.refresh", {})])
        refresher.start()
        during = drive(url, ingest_script, phase, args.connections, proc.pid, warmup=0)
        refresher.join()
    finally:
        stop(proc)

    print(f"server start-up with the index loaded: {startup:.1f}s; steady refresh of every definition: {steady_s:.2f}s")
    print(f"index re-read by the server after a CLI refresh: {swapped:.1f}s after the refresh returned")
    print(f"load: wrk -t1 -c{args.connections}, {args.seconds}s per server, random ids among {args.profiles:,}")
    print(f"{'endpoint':<26}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'CPU us/req':>12}")
    print(row("no-op", noop))
    print(row("GET /api/segments", real))
    print(f"ratio segments/no-op: {real['rps'] / noop['rps']:.2f}")
    cpu_ratio = noop["cpu_us"] / real["cpu_us"]
    print(f"CPU per request, no-op/segments: {cpu_ratio:.2f} (the same ratio by server CPU; less swayed by other load)")
    print(row("GET during a refresh", real_during))
    print(row("ingest alone", alone))
    print(row("ingest during a refresh", during))
    print("CPU us/req: the server process, all threads (rows during a refresh include the refresh's CPU)")
    print(f"load average before the run: {load_before}; after: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
