"""Scale-out bench: a single embedded collector against 3 NATS nodes + 2 ingest nodes + 1 loader, on loopback.

Prints events/s through each, CPU seconds per million events in each role, the loader's drain rate
into DuckDB, and then runs the fault drill (kill -9 of a NATS node, an ingest node and the loader
under load) and checks that every event that got a 202 is in DuckDB exactly once.

Every collector is up (/healthz answers, and its background build of device model rules is done: seconds
of CPU that would otherwise be counted as work per event) and warmed by one second of the same load before
a phase is timed. Rate limits are off on every node, so every request is accepted; a quarter of the events
carry a consented id, so the loader's profile upsert works. While the ingest nodes are timed the loader is
frozen (SIGSTOP; in production it runs on the DuckDB machine) and its CPU is taken over the drain that
follows. The loader's own rate is timed at the JetStream consumer: frozen (warm) while a backlog builds up,
then resumed, from the first message it takes to an empty backlog. About 100 s.

    .venv/bin/python bench/cluster.py [--seconds 3] [--backlog 300000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.clusterlib import ORIGIN, UA, Cluster, Load, Proc, wait_http

WRK_SCRIPT = """
local counter = 0
local tag = ""
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local prefix = os.getenv("BENCH_PREFIX") or "w"
local threads = {}
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
function init(args) tag = prefix .. "-" .. tostring(id); acked = 0; other = 0; status = 0 end
function request()
  local parts = {}
  for i = 1, batch do
    counter = counter + 1
    local visitor = ""
    if counter % 4 == 0 then visitor = ',"id":"visitor-' .. tostring(counter % 997) .. '"' end
    parts[i] = '{"d":"example.com","u":"https://example.com/w/' .. tag .. '/' .. counter .. '"' .. visitor .. '}'
  end
  return wrk.format("POST", "/api/event", {["Content-Type"] = "text/plain", ["Origin"] = "ORIGIN",
    ["User-Agent"] = "UA"}, "[" .. table.concat(parts, ",") .. "]")
end
function response(code, headers, body)
  if code == 202 then acked = acked + 1 else other = other + 1; status = code end
end
function done(summary, latency, requests)
  local total, refused, code = 0, 0, 0
  for _, t in ipairs(threads) do
    total = total + t:get("acked"); refused = refused + t:get("other"); code = math.max(code, t:get("status"))
  end
  io.write(string.format("ACKED %d OTHER %d STATUS %d\\n", total, refused, code))
end
""".replace("ORIGIN", ORIGIN).replace("UA", UA)
# Every request accepted on every node: the comparison is of the work per stored event.
CONFIG = "rate_limit_site_per_second = 0\nrate_limit_client_per_second = 0\n"


def wrk(urls: list[str], seconds: float, batch: int, prefix: str, script: Path, connections: int = 16) -> int:
    """Drive every URL at once with wrk; return the number of events that got a 202 (any other answer fails)."""
    procs = [
        subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s", "-s", str(script), url],
            stdout=subprocess.PIPE,
            text=True,
            env={"BENCH_BATCH": str(batch), "BENCH_PREFIX": f"{prefix}{i}", "PATH": "/usr/bin:/bin"},
        )
        for i, url in enumerate(urls)
    ]
    acked = 0
    for proc in procs:
        out, _ = proc.communicate()
        match = re.search(r"ACKED (\d+) OTHER (\d+) STATUS (\d+)", out)
        if not match:
            raise SystemExit(f"wrk failed:\n{out}")
        if int(match.group(2)):
            raise SystemExit(f"{match.group(2)} requests were answered {match.group(3)}, not 202:\n{out}")
        acked += int(match.group(1)) * batch
    return acked


def cpu(procs: list[Proc]) -> float:
    return sum(p.cpu_seconds() for p in procs)


def per_million(seconds: float, events: int) -> float:
    return seconds / events * 1e6 if events else float("nan")


def main() -> int:
    began = time.monotonic()
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=3, help="length of each throughput phase")
    parser.add_argument("--backlog", type=int, default=300_000, help="events published straight into the stream")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check in seconds that the bench runs")
    args = parser.parse_args()
    batches: tuple[int, ...] = (1, 20)
    if args.quick:
        # One batch size, no warm-up phases and no fault drill (tests/system/test_scaleout.py runs the drill):
        # every role still takes, ships and loads events, and the figures print.
        args.seconds = 1
        args.backlog = 5_000
        batches = (20,)
    root = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    script = root / "beacons.lua"
    script.write_text(WRK_SCRIPT)
    cluster = Cluster(root, config=CONFIG)
    assert cluster.loader is not None and cluster.embedded is not None
    try:
        cluster.start_all(embedded=True)
        started = time.monotonic()
        ingest_nodes = [cluster.ingest_url(i) for i in range(len(cluster.ingest))]
        cluster.wait_warm([cluster.embedded_url, cluster.loader_url, *ingest_nodes])
        print(f"device rules built on every node in {time.monotonic() - started:.1f} s")
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'phase':<34}{'events/s':>10}{'CPU s per M events':>40}")
        embedded_url = [f"{cluster.embedded_url}/api/event"]
        ingest_urls = [f"{url}/api/event" for url in ingest_nodes]
        wrk_events = 0
        results: dict[int, tuple[float, float, float, float]] = {}
        for batch in batches:
            if not args.quick:
                wrk(embedded_url, 1, batch, f"ew{batch}-", script)  # warm-up: caches, buffers, first loads
            before = cpu([cluster.embedded])
            t = time.monotonic()
            events = wrk(embedded_url, args.seconds, batch, f"e{batch}-", script)
            rate_embedded = events / (time.monotonic() - t)
            embedded_cpu = per_million(cpu([cluster.embedded]) - before, events)
            label = f"embedded, {batch:>2} event(s)/request"
            print(f"{label:<34}{rate_embedded:>10,.0f}{'collector':>22} {embedded_cpu:8.1f}")

            if not args.quick:
                wrk_events += wrk(ingest_urls, 1, batch, f"cw{batch}-", script, connections=8)
                cluster.wait_drained()
            # The loader (on the DuckDB machine in production) waits while the ingest nodes are timed, so that it
            # does not compete with them for these 2 cores; its CPU is taken over the drain that follows.
            cluster.pause_loader()
            marks = [cpu(cluster.ingest), cpu(cluster.nats)]
            t = time.monotonic()
            events = wrk(ingest_urls, args.seconds, batch, f"c{batch}-", script, connections=8)
            rate_cluster = events / (time.monotonic() - t)
            ingest_cpu = per_million(cpu(cluster.ingest) - marks[0], events)
            loader_mark = cpu([cluster.loader])
            cluster.resume_loader()
            cluster.wait_drained()
            wrk_events += events
            nats_cpu = per_million(cpu(cluster.nats) - marks[1], events)
            loader_cpu = per_million(cpu([cluster.loader]) - loader_mark, events)
            print(
                f"cluster,  {batch:>2} event(s)/request      {rate_cluster:>10,.0f}"
                f"   ingest {ingest_cpu:7.1f}  nats {nats_cpu:6.1f}  loader {loader_cpu:6.1f}"
            )
            results[batch] = (rate_embedded, embedded_cpu, rate_cluster, ingest_cpu)
        cluster.embedded.stop()  # its CPU would compete with the loader's

        # The loader's own rate: freeze it, let a backlog build up (through the ingest nodes, then straight into
        # the stream, as ingest nodes group events under load, to reach a backlog worth timing) and time the drain.
        cluster.pause_loader()
        t = time.monotonic()
        backlog = wrk(ingest_urls, args.seconds if args.quick else 2, 100, "b-", script, connections=8)
        wrk_events += backlog
        fill_rate = backlog / (time.monotonic() - t)
        print(f"cluster, 100 events/request (fill)  {fill_rate:>10,.0f}")
        cluster.publish_backlog(args.backlog)
        backlog += args.backlog
        messages = cluster.stream_messages()
        drain = cluster.time_drain()
        print(
            f"loader drains a backlog of {backlog:,} events ({messages:,} messages): "
            f"{backlog / drain.seconds:,.0f} events/s into DuckDB in {drain.seconds:.2f} s, "
            f"loader {per_million(drain.loader_cpu, backlog):.1f} and nats {per_million(drain.nats_cpu, backlog):.1f} "
            "CPU s per M events"
        )
        cluster.wait_drained()

        # The fault drill, with a client that remembers every event that got a 202.
        load = Load(batch=20) if args.quick else asyncio.run(drill(cluster))
        cluster.wait_drained(timeout=60)
        t = time.monotonic()
        code = cluster.loader.stop()
        print(f"loader stopped in {time.monotonic() - t:.1f} s with {code}")
        stored = dict(cluster.query("SELECT path, count(*) FROM events WHERE path LIKE '/t/%' GROUP BY path"))
        lost = len(load.acked - stored.keys())
        doubled = sum(1 for n in stored.values() if n > 1)
        total, distinct, wrk_rows, published = cluster.query(
            "SELECT count(*), count(DISTINCT event_id), count(*) FILTER (path LIKE '/w/%'),"
            " count(DISTINCT path) FILTER (path LIKE '/p/%') FROM events"
        )[0]
        if args.quick:
            print("fault drill: not run with --quick")
        else:
            print(
                f"fault drill: {len(load.acked):,} events got a 202 ({load.statuses}); "
                f"lost {lost}, stored twice {doubled}"
            )
        print(f"all phases: {total:,} events stored, {distinct:,} distinct ids; wrk events: {wrk_rows:,} stored")
        print(f"            for {wrk_events:,} acknowledged; published straight: {published:,} of {args.backlog:,}")
        for batch, (rate_e, cpu_e, rate_c, cpu_i) in results.items():
            print(
                f"ratios at {batch:>2} event(s)/request: cluster/embedded events/s {rate_c / rate_e:.2f}, "
                f"ingest-node/embedded CPU per event {cpu_i / cpu_e:.2f}"
            )
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {time.monotonic() - began:.0f} s")
        graceful = code in (0, -signal.SIGTERM)
        ok = graceful and lost == 0 and doubled == 0 and total == distinct and wrk_rows >= wrk_events
        ok = ok and published == args.backlog
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        cluster.close()


async def drill(cluster: Cluster) -> Load:
    assert cluster.loader is not None
    load = Load(batch=20)
    task = asyncio.create_task(load.run(cluster.ingest_ports, connections=3))
    await asyncio.sleep(2)
    leader = await asyncio.to_thread(cluster.stream_leader)
    cluster.nats[leader].kill()
    await asyncio.sleep(2)
    await asyncio.to_thread(cluster.start_nats, leader)
    await asyncio.sleep(1)
    cluster.ingest[0].kill()
    await asyncio.sleep(0.5)
    cluster.ingest[0].start()
    await asyncio.sleep(1)
    cluster.loader.kill()  # while the ingest node is still starting: both come back together
    await asyncio.sleep(0.5)
    cluster.loader.start()
    await asyncio.gather(
        asyncio.to_thread(wait_http, f"{cluster.ingest_url(0)}/healthz", cluster.ingest[0], 60),
        asyncio.to_thread(wait_http, f"{cluster.loader_url}/healthz", cluster.loader, 60),
    )
    await asyncio.sleep(1.5)
    load.stop()
    await task
    return load


if __name__ == "__main__":
    sys.exit(main())
