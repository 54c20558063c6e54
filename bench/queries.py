"""Time every named query at 10 million synthetic events (90 days, 3 sites) in an encrypted DuckDB file.

    .venv/bin/python bench/queries.py [--events 10000000] [--runs 5] [--keep DIR] [--quick]

Builds the events with DuckDB's own generators (half of them on the largest site, the one timed), fills
daily_counts, builds the daily rollups, then prints the warm median of several runs
of each named query for that site over the last 30 and the last 90 days: unfiltered, with one filter and
with two (FILTERS), and the goal queries (GOALS). The baseline printed beside each query is the same
question asked of the raw events table (a one-site GROUP BY with distinct visitors over the same
period), measured in the same run. `--keep DIR` keeps the database for the next run (and for
bench/dashboard.py, which reads the same folder); `--quick` runs tiny sizes in seconds.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collector.settings import Site, load_settings
from collector.stats import breakdowns, queries
from collector.storage.store import migrate, open_database

SITES = ("big.example", "mid.example", "small.example")
DAYS = 90

# Bursts of four events belong to one visit of one visitor; visitors are daily hashes (cookieless), a
# pool of stable consented ones, or none (GPC). Attributes are picked from small lists by hash bits.
GENERATE = """
INSERT INTO events
WITH base AS (
    SELECT
        i,
        $start + to_microseconds((i * ($days * 86400000000 // $n))::BIGINT) AS ts,
        hash(i // 4) AS b,
        hash(i) AS h
    FROM range($n) t(i)
),
shaped AS (
    SELECT
        *,
        (b % 10)::INT AS s,
        ((b >> 8) % 1000)::INT AS kind,
        (h % 1000)::INT AS u,
        ((h >> 12) % 1000)::INT AS p
    FROM base
),
visitors AS (
    SELECT
        *,
        CASE
            WHEN kind < 30 THEN NULL
            WHEN kind < 130 THEN hash((b >> 20) % 20000)
            ELSE hash(ts::DATE, s, (b >> 20) % 8000)
        END AS visitor
    FROM shaped
)
SELECT
    uuid(),
    ts,
    CASE WHEN s < 5 THEN 'big.example' WHEN s < 8 THEN 'mid.example' ELSE 'small.example' END,
    CASE WHEN u < 900 THEN 'pageview' ELSE ['signup', 'download', 'outbound', 'purchase'][1 + u % 4] END,
    NULL,
    '/p/' || floor(pow(p / 1000.0, 3) * 2000)::INT,
    CASE WHEN kind % 10 < 6 THEN NULL ELSE ['google.com', 'bing.com', 't.co', 'duckduckgo.com'][1 + kind % 4] END,
    CASE WHEN kind % 10 = 9 THEN ['newsletter', 'mastodon', 'partner'][1 + kind % 3] END,
    CASE WHEN kind % 10 = 9 THEN 'email' END,
    CASE WHEN kind % 10 = 9 THEN 'spring' || (kind % 20) END,
    NULL,
    NULL,
    visitor,
    kind >= 30 AND kind < 130,
    kind < 30,
    ['desktop', 'smartphone', 'tablet'][1 + ((b >> 24) % 3)::INT],
    ['Apple', 'Samsung', 'Google', 'Xiaomi'][1 + ((b >> 26) % 4)::INT],
    'M' || ((b >> 28) % 50)::INT,
    NULL,
    ['Windows', 'Android', 'iOS', 'Mac OS X', 'Linux'][1 + ((b >> 34) % 5)::INT],
    (10 + (b >> 37) % 6)::VARCHAR,
    ['Chrome', 'Firefox', 'Safari', 'Edge'][1 + ((b >> 40) % 4)::INT],
    (100 + (b >> 42) % 30)::VARCHAR,
    [1920, 1366, 390, 414, 1536][1 + ((b >> 48) % 5)::INT],
    [1080, 768, 844, 896, 864][1 + ((b >> 48) % 5)::INT],
    ['en-US', 'de-DE', 'fr-FR', 'es-ES', 'nl-NL'][1 + ((b >> 51) % 5)::INT],
    ['Europe/Berlin', 'America/New_York', 'Europe/Paris', 'Asia/Tokyo'][1 + ((b >> 54) % 4)::INT],
    CASE WHEN u >= 900 THEN '{"plan": "' || ['free', 'pro'][1 + u % 2] || '"}' END
FROM visitors
"""

FILTERS = {
    "one filter": ("device_brand==Samsung",),
    "two filters": ("device_brand==Samsung", "referrer==google.com"),
}
GOALS = {
    "conversions": {"goal": "event:signup"},
    "funnel": {"steps": "/p/0,/p/1,event:signup"},
    "retention": {},
}

BASELINE = (
    "SELECT path, count(*), count(DISTINCT visitor) FROM events "
    "WHERE site = $site AND ts >= $lo AND ts < $hi AND name = 'pageview' GROUP BY path"
)


def timed(fn: object, runs: int) -> float:
    samples = []
    for _ in range(runs + 1):  # the first run warms up
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="keep the database in this folder (reused when present)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (20,000 events, one run), in seconds")
    args = parser.parse_args()
    if args.quick:
        args.events, args.runs = 20_000, 1
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-queries-"))
    path = folder / "bench.duckdb"
    key = "bench-" + secrets.token_hex(8) if not args.keep else "bench-key-kept"
    fresh = not path.exists()
    con = open_database(path, key)
    migrate(con)
    # The CSP-report table belongs to the privacy migration; the query reads it, so make sure it is there.
    con.execute(
        "CREATE TABLE IF NOT EXISTS third_parties (site VARCHAR NOT NULL, day DATE NOT NULL, page VARCHAR NOT NULL, "
        "host VARCHAR NOT NULL, directive VARCHAR NOT NULL, reports BIGINT NOT NULL)"
    )
    today = datetime.now(UTC).date()
    start = datetime.combine(today - timedelta(days=DAYS - 1), datetime.min.time())
    if fresh:
        started = time.perf_counter()
        con.execute(GENERATE, {"n": args.events, "days": DAYS, "start": start})
        con.execute("INSERT INTO daily_counts SELECT site, ts::DATE, name, count(*) FROM events GROUP BY ALL")
        con.execute("CHECKPOINT")
        print(f"generated {args.events:,} events in {time.perf_counter() - started:.1f} s")
    built = breakdowns.refresh(con, throttle=False)
    con.execute("CHECKPOINT")
    per_day = built.ms / max(1, len(built.days))
    print(f"built rollups for {len(built.days)} days in {built.ms / 1000:.1f} s ({per_day:.0f} ms a day)")
    site = SITES[0]
    counted = con.execute(
        "SELECT (SELECT count(*) FROM events WHERE site = $site), (SELECT count(*) FROM daily_breakdowns)",
        {"site": site},
    ).fetchone()
    events, rollup_rows = counted if counted else (0, 0)
    print(f"timing {site} ({events:,} events; {rollup_rows:,} rollup rows)")
    settings = replace(load_settings(env={}), sites=(Site(site, (f"https://{site}",)),))
    shipped = queries.load_queries()
    print(f"{'query':<20} {'30 days ms':>11} {'90 days ms':>11}   raw-scan baseline / query, 30 / 90 days")
    baseline = {}
    for days in (30, 90):
        lo = datetime.combine(today - timedelta(days=days - 1), datetime.min.time())
        hi = datetime.combine(today + timedelta(days=1), datetime.min.time())
        params = {"site": site, "lo": lo, "hi": hi}
        baseline[days] = timed(lambda p=params: con.execute(BASELINE, p).fetchall(), args.runs)

    def medians(query: queries.Query, extra: dict[str, str], expressions: tuple[str, ...] = ()) -> list[float]:
        found = []
        for days in (30, 90):
            raw = {"site": site, "from": (today - timedelta(days=days - 1)).isoformat(), "to": today.isoformat()}
            bound = queries.bind(query, settings, raw | extra, expressions=expressions)
            found.append(timed(lambda q=query, b=bound: queries.execute(con, q, b), args.runs))
        return found

    def line(name: str, found: list[float]) -> str:
        ratios = " / ".join(f"{baseline[d] / m:.1f}" for d, m in zip((30, 90), found, strict=True))
        return f"{name:<20} {found[0]:>11.1f} {found[1]:>11.1f}   {ratios}"

    worst = 0.0
    for name, query in shipped.items():
        if name in GOALS:
            continue
        found = medians(query, {})
        worst = max(worst, *found)
        print(line(name, found))
    print(f"raw-scan baseline (pages with distinct visitors): {baseline[30]:.1f} / {baseline[90]:.1f} ms")
    print(f"slowest unfiltered named query: {worst:.1f} ms (target < 100 ms)")
    for label, expressions in FILTERS.items():
        print(f"\nwith {label}: {' AND '.join(expressions)}")
        worst = 0.0
        for name, query in shipped.items():
            if query.rollups:
                found = medians(query, {}, expressions)
                worst = max(worst, *found)
                print(line(name, found))
        print(f"slowest named query with {label}: {worst:.1f} ms (goal <= 150 ms)")
    print("\ngoal queries (goal <= 250 ms), unfiltered and with one filter:")
    for name, extra in GOALS.items():
        print(line(name, medians(shipped[name], extra)) + f"   ({', '.join(f'{k}={v}' for k, v in extra.items())})")
        print(line(name + " +filter", medians(shipped[name], extra, FILTERS["one filter"][:1])))
    con.close()
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
