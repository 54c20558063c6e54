"""What encryption at rest costs: ingest through the real writer (journal + DuckDB), a bulk load, a cold read.

Runs each measurement on a plain and on an encrypted database in the same run (alternating, median of
rounds) and prints encrypted/plain ratios. Usage: .venv/bin/python bench/encryption.py [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from collector.durable.journal import Journal, Sealer
from collector.durable.writer import Writer
from collector.events import Event, Request
from collector.ingest.parsing import build_event
from collector.ingest.pipeline.steps import build_pipeline
from collector.settings import Settings, Site
from collector.storage.store import migrate, open_database

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
KEY = secrets.token_hex(32)
READ_SQL = (
    "SELECT site, path, device_type, count(*), count(DISTINCT visitor), max(ts) "
    "FROM events GROUP BY ALL ORDER BY 4 DESC"
)


def make_events(n: int) -> list[Event]:
    settings = Settings(sites=(Site("example.com", ("https://example.com",)),))
    salt = secrets.token_bytes(32)
    pipeline = build_pipeline(settings, secrets.token_bytes(32), lambda day: salt)
    now = datetime.now(UTC)
    events = []
    for i in range(n):
        request = Request(ip=f"10.0.{i % 250}.{i % 200}", user_agent=UA, hints={}, gpc=False, prefetch=False)
        raw = {"d": "example.com", "u": f"https://example.com/p/{i % 500}?utm_source=s{i % 7}", "w": 1280, "h": 800}
        events.append(pipeline.run(build_event(raw, None, request, now)))
    return events


def open_db(path: Path, encrypted: bool) -> duckdb.DuckDBPyConnection:
    con = open_database(path, KEY if encrypted else None)
    migrate(con)
    return con


async def ingest(
    con: duckdb.DuckDBPyConnection, journal_dir: Path, encrypted: bool, events: list[Event], concurrency: int
) -> float:
    """Events/s acknowledged (journal fsync) and loaded into DuckDB, as the server's writer does both."""
    writer = Writer(con, Journal(journal_dir), Sealer(KEY if encrypted else None))
    writer.start()
    queue = list(events)

    async def client() -> None:
        while queue:
            await writer.write([queue.pop()])

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    writer.sync()
    elapsed = time.perf_counter() - started
    writer.close()
    return len(events) / elapsed


def bulk_load(con: duckdb.DuckDBPyConnection, rows: int) -> float:
    started = time.perf_counter()
    con.execute(
        "INSERT INTO events (event_id, ts, site, name, hostname, path, visitor, consented, anonymous, device_type) "
        "SELECT uuid(), TIMESTAMP '2026-01-01' + to_seconds(i % 2592000), 'example.com', 'pageview', 'example.com', "
        "'/p/' || (i % 5000), hash(i % 100000), false, false, CASE WHEN i % 3 = 0 THEN 'mobile' ELSE 'desktop' END "
        "FROM range(?) t(i)",
        [rows],
    )
    con.execute("CHECKPOINT")
    return rows / (time.perf_counter() - started)


def cold_read(path: Path, encrypted: bool) -> tuple[float, float]:
    """(seconds to open, with the extension load and key check; seconds for the first aggregate query)."""
    started = time.perf_counter()
    con = open_database(path, KEY if encrypted else None, read_only=True)
    opened = time.perf_counter()
    con.execute(READ_SQL).fetchall()
    done = time.perf_counter()
    con.close()
    return opened - started, done - opened


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=8_000, help="events through the writer per round")
    parser.add_argument("--rows", type=int, default=200_000, help="rows bulk-loaded for the read test")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    events = make_events(args.events)
    results: dict[tuple[str, bool], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(-1, args.rounds):  # round -1 warms caches and allocators; it is not recorded
            for encrypted in (False, True) if round_ % 2 == 0 else (True, False):
                path = Path(tmp) / f"r{round_}-{'enc' if encrypted else 'plain'}.duckdb"
                con = open_db(path, encrypted)
                journal = Path(tmp) / f"r{round_}-{'enc' if encrypted else 'plain'}-journal"
                rate = asyncio.run(ingest(con, journal, encrypted, events, args.concurrency))
                bulk = bulk_load(con, args.rows)
                con.close()
                open_s, read = cold_read(path, encrypted)
                size = path.stat().st_size
                values = (("ingest", rate), ("bulk", bulk), ("open", open_s), ("read", read), ("size", size))
                for name, value in values if round_ >= 0 else ():
                    results.setdefault((name, encrypted), []).append(value)
    print(
        f"DuckDB {duckdb.__version__}; {args.events} events through the writer ({args.concurrency} concurrent "
        f"clients, 1 event per request), {args.rows} rows bulk-loaded; median of {args.rounds} rounds"
    )
    rows = (
        ("ingest (events/s)", "ingest", "{:,.0f}"),
        ("bulk load (rows/s)", "bulk", "{:,.0f}"),
        ("open (s)", "open", "{:.3f}"),
        ("cold query (s)", "read", "{:.3f}"),
        ("file size (MB)", "size", "{:.1f}"),
    )
    print(f"{'':22}{'plain':>14}{'encrypted':>14}{'enc/plain':>11}")
    for label, key, fmt in rows:
        plain = statistics.median(results[(key, False)])
        enc = statistics.median(results[(key, True)])
        if key == "size":
            plain, enc = plain / 1e6, enc / 1e6
        print(f"{label:22}{fmt.format(plain):>14}{fmt.format(enc):>14}{enc / plain:>10.2f}x")


if __name__ == "__main__":
    main()
