"""What rate limiting costs ingest: the collector with its limits off, then on (set high so that none bites).

Run: .venv/bin/python bench/ratelimit.py [--seconds 8] [--connections 64]
Same load as bench/ingest.py (wrk, a Zipf draw of User-Agents from one address), the two set-ups
alternated --rounds times, the best run of each kept. Also times one client check (keyed hash +
bucket) in-process. Prints req/s for both and the ratio limits-on/limits-off.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ingest as base

from collector.ingest.ratelimit import RateLimits
from collector.settings import load_settings

OFF = "rate_limit_client_per_second = 0\nrate_limit_site_per_second = 0\n"
# On, but far above what one machine can send, so every request pays for the checks and none is refused.
ON = (
    "rate_limit_client_per_second = 1000000\nrate_limit_client_burst = 1000000\n"
    "rate_limit_site_per_second = 1000000\nrate_limit_site_burst = 1000000\n"
)


def check_cost(uas: list[str], rounds: int = 200_000) -> float:
    """Nanoseconds per client check, over a set of clients as large as the UA draw."""
    limits = RateLimits(load_settings(env={}, rate_limit_client_per_second=1e9, rate_limit_client_burst=10**9))
    started = time.perf_counter()
    n = len(uas)
    for i in range(rounds):
        limits.check_client("203.0.113.9", uas[i % n])
    return (time.perf_counter() - started) / rounds * 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--distinct-uas", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2, help="alternate off/on this often; the best run counts")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before each measured run")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check in seconds that the bench runs")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 1
        args.connections = 8
        args.distinct_uas = 100
        args.rounds = 1
        args.warmup = 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-ratelimit-"))
    uas = base.user_agents(args.distinct_uas, 20_000)
    script = tmp / "post.lua"
    script.write_text(base.LUA % ",".join('"' + ua.replace('"', '\\"') + '"' for ua in uas))
    print(f"load: wrk -t1 -c{args.connections}, {args.seconds}s per run, {args.distinct_uas} distinct UAs, 2 cores")
    print(f"one client check in-process: {check_cost(uas):.0f} ns")
    results: dict[str, dict[str, float]] = {}
    for round_ in range(args.rounds):
        for name, limits in (("limits off", OFF), ("limits on", ON)):
            config = tmp / f"{name.replace(' ', '-')}.toml"
            config.write_text(limits + base.CONFIG[base.CONFIG.index("[[sites]]") :])
            port = base.free_port()
            data_dir = tmp / f"{name.replace(' ', '-')}-{round_}"
            cmd = [sys.executable, "-m", "collector", "serve", "--config", str(config)]
            cmd += ["--data-dir", str(data_dir), "--port", str(port)]
            result = base.measure(cmd, port, args, script, uas)
            if name not in results or result["rps"] > results[name]["rps"]:
                results[name] = result
    print(f"{'collector':<12}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for name, r in results.items():
        print(f"{name:<12}{r['rps']:>10.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['errors']:>9.0f}")
    print(f"ratio limits-on/limits-off: {results['limits on']['rps'] / results['limits off']['rps']:.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
