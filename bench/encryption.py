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
from pathlib import Path

import duckdb
import orjson

from collector.durable.journal import Journal, Sealer
from collector.durable.wire import RawRequest
from collector.durable.writer import Writer
from collector.ingest.handler import IngestConfig
from collector.settings import Settings, Site
from collector.storage.salts import Salts
from collector.storage.store import migrate, open_database

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
KEY = secrets.token_hex(32)
SETTINGS = Settings(sites=(Site("example.com", ("https://example.com",)),))
READ_SQL = (
    "SELECT site, path, device_type, count(*), count(DISTINCT visitor), max(ts) "
    "FROM events GROUP BY ALL ORDER BY 4 DESC"
)


def make_requests(n: int) -> list[RawRequest]:
    """Page views as the HTTP layer hands them to the writer: peer address, headers and body."""
    headers = {"user-agent": UA, "origin": "https://example.com", "content-type": "text/plain"}
    requests: list[RawRequest] = []
    for i in range(n):
        body = {"d": "example.com", "u": f"https://example.com/p/{i % 500}?utm_source=s{i % 7}", "w": 1280, "h": 800}
        requests.append((f"10.0.{i % 250}.{i % 200}", headers, orjson.dumps(body)))
    return requests


def open_db(path: Path, encrypted: bool) -> duckdb.DuckDBPyConnection:
    con = open_database(path, KEY if encrypted else None)
    migrate(con)
    return con


async def ingest(
    con: duckdb.DuckDBPyConnection, journal_dir: Path, encrypted: bool, requests: list[RawRequest], concurrency: int
) -> float:
    """Events/s acknowledged (journal fsync) and loaded into DuckDB, as the server's writer does both."""
    salts = Salts(SETTINGS.salt_grace_hours)
    salts.rotate(con)
    handlers = IngestConfig(SETTINGS, secrets.token_bytes(32), salts)
    writer = Writer(con, Journal(journal_dir), Sealer(KEY if encrypted else None), handlers)
    writer.start()
    queue = list(requests)
    refused: list[object] = []

    async def client() -> None:
        while queue:
            if (refusal := await writer.submit(queue.pop())) is not None:
                refused.append(refusal)

    await writer.ping()  # the journal process is up (its start-up is not ingest)
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    # sync() blocks until the rows are loaded; the loop must keep running meanwhile, as it carries them.
    if not await asyncio.to_thread(writer.sync):
        raise SystemExit("the writer did not load the journaled events within 30 s")
    elapsed = time.perf_counter() - started
    writer.close()
    stored = con.execute("SELECT count(*) FROM events").fetchone()
    if refused or stored != (len(requests),):
        raise SystemExit(f"the writer stored {stored} of {len(requests)} events ({len(refused)} refused)")
    return len(requests) / elapsed


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
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check in seconds that the bench runs")
    args = parser.parse_args()
    if args.quick:
        args.events = 20
        args.rows = 5_000
        args.rounds = 1
        args.concurrency = 20
    events = make_requests(args.events)
    results: dict[tuple[str, bool], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(0 if args.quick else -1, args.rounds):  # round -1 warms up; it is not recorded
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
