"""Time the dashboard at 10 million events: the complete page in Chromium, and each panel's query.

    .venv/bin/python bench/dashboard.py --keep /tmp/bench [--events 10000000] [--runs 5] [--quick]

Uses the database of bench/queries.py (same folder layout and key, so one kept folder serves both; it is
generated here when missing, which takes a minute). The server's data directory is `server/` in that
folder: a link to the database and a key file holding the database's key. A real server (uvicorn on
loopback) serves it; a logged-in Chromium opens /dashboard for the largest site (5 M events) over the
last 30 days, and the time to a complete page is navigation start to the moment every panel is drawn
(the page's own `dashboardReady` mark). The same is measured with one device filter, one visit filter
and both, which group the matching events. The baseline, measured in the same run, is one raw scan of
the events (pages with distinct visitors over the 30 days), the way a dashboard without rollups answers
one panel. `--quick` runs 20,000 events once, in seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import orjson
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector.access import users
from collector.settings import Site, load_settings
from collector.stats import breakdowns
from collector.storage import store
from tests.conftest import LiveServer

KEY = "bench-key-kept"
SITE = "big.example"
PASSWORD = "bench password 1234"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
FILTERS: dict[str, list[str]] = {
    "none": [],
    "device_brand==Samsung": ["device_brand==Samsung"],
    "referrer==google.com": ["referrer==google.com"],
    "both": ["device_brand==Samsung", "referrer==google.com"],
}


def _queries_bench() -> object:
    spec = importlib.util.spec_from_file_location("bench_queries", Path(__file__).with_name("queries.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare(folder: Path, events: int) -> Path:
    """The bench/queries.py database in `folder`, generated when missing; returns the server's data dir."""
    path = folder / "bench.duckdb"
    con = store.open_database(path, KEY)
    try:
        # Folders kept before the privacy migration hold the bench's own stand-in for its CSP-report table.
        applied = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'").fetchone()
        privacy = "SELECT count(*) FROM schema_migrations WHERE version = 3"
        if applied != (0,) and con.execute(privacy).fetchone() == (0,):
            con.execute("DROP TABLE IF EXISTS third_parties")
        store.migrate(con)
        if con.execute("SELECT count(*) FROM events").fetchone() == (0,):
            qb = _queries_bench()
            start = datetime.combine(datetime.now(UTC).date() - timedelta(days=89), datetime.min.time())
            started = time.perf_counter()
            con.execute(qb.GENERATE, {"n": events, "days": 90, "start": start})  # type: ignore[attr-defined]
            con.execute("INSERT INTO daily_counts SELECT site, ts::DATE, name, count(*) FROM events GROUP BY ALL")
            print(f"generated {events:,} events in {time.perf_counter() - started:.1f} s")
        built = breakdowns.refresh(con, throttle=False)
        if built.days:
            print(f"built rollups for {len(built.days)} days in {built.ms / 1000:.1f} s")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    data = folder / "server"
    data.mkdir(exist_ok=True)
    link = data / "collector.duckdb"
    if not link.exists():
        link.symlink_to(path)
    key_file = data / "collector.key"
    if not key_file.exists():  # the server opens the database with the key of its key file
        key_file.write_bytes(orjson.dumps({"pepper": secrets.token_hex(32), "database_key": KEY}))
        key_file.chmod(0o600)
    return data


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="folder of the database (shared with bench/queries.py; reused)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (20,000 events, one run), in seconds")
    args = parser.parse_args()
    if args.quick:
        args.events, args.runs = 20_000, 1
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    folder.mkdir(parents=True, exist_ok=True)
    data = prepare(folder, args.events)
    settings = replace(load_settings(env={}, data_dir=data), sites=(Site(SITE, (f"https://{SITE}",)),))
    server = LiveServer(settings).start()
    try:
        assert server.live.runtime is not None
        cur = store.cursor(server.live.runtime.con)
        users.add_user(cur, "bench", users.hash_password(PASSWORD), ["stats:read"], None)
        count = cur.execute("SELECT count(*) FROM events WHERE site = ?", [SITE]).fetchone()
        today = datetime.now(UTC).date()
        lo = datetime.combine(today - timedelta(days=29), datetime.min.time())
        baseline = []
        for _ in range(args.runs):
            started = time.perf_counter()
            cur.execute(_queries_bench().BASELINE, {"site": SITE, "lo": lo, "hi": lo + timedelta(days=30)}).fetchall()  # type: ignore[attr-defined]
            baseline.append((time.perf_counter() - started) * 1000)
        cur.close()
        print(f"{SITE}: {count[0] if count else 0:,} events; last 30 days; {args.runs} runs, medians")
        base = median_ms(baseline)
        print(f"baseline: one raw scan of the events (pages with distinct visitors): {base:.0f} ms")
        cookie = login(server.url)
        api_times(server.url, cookie, args.runs)
        page_times(server.url, cookie, args.runs, base)
    finally:
        server.stop()


def login(url: str) -> str:
    with httpx.Client(base_url=url) as client:
        form = client.get("/dashboard/login").text
        found = re.search(r'name="csrf" value="([^"]+)"', form)
        assert found
        data = {"csrf": found.group(1), "user": "bench", "password": PASSWORD}
        client.post("/dashboard/login", data=data, headers={"Origin": url})
        return client.cookies["collector_session"]


def api_times(url: str, cookie: str, runs: int) -> None:
    with httpx.Client(base_url=url, cookies={"collector_session": cookie}, timeout=120) as client:
        for label, filters in FILTERS.items():
            per_panel: dict[str, list[float]] = {}
            wall = []
            for _ in range(runs + 1):
                started = time.perf_counter()
                params = [("site", SITE), ("period", "30d"), *(("filter", f) for f in filters)]
                r = client.get("/dashboard/api/report", params=params)
                wall.append((time.perf_counter() - started) * 1000)
                r.raise_for_status()
                for panel, ms in r.json()["ms"].items():
                    per_panel.setdefault(panel, []).append(ms)
            print(f"\nGET /dashboard/api/report, filter {label}: {median_ms(wall[1:]):.0f} ms (server side per part:)")
            print("  " + ", ".join(f"{p} {median_ms(v[1:]):.0f}" for p, v in per_panel.items()))
        live = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get("/dashboard/api/live", params={"site": SITE}).raise_for_status()
            live.append((time.perf_counter() - started) * 1000)
        print(f"\nGET /dashboard/api/live: {median_ms(live):.0f} ms")


def page_times(url: str, cookie: str, runs: int, baseline: float) -> None:
    print("\ncomplete page in Chromium (navigation start to every panel drawn):")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "collector_session", "value": cookie, "url": url}])
        page = context.new_page()
        for label, filters in FILTERS.items():
            query = urlencode([("site", SITE), ("period", "30d"), *(("filter", f) for f in filters)])
            samples = []
            for _ in range(runs + 1):
                page.goto(f"{url}/dashboard?{query}")
                page.wait_for_selector('body[data-ready="1"]', timeout=120_000)
                samples.append(page.evaluate("window.dashboardReady.at"))
            ms = median_ms(samples[1:])
            print(f"  filter {label:<22} {ms:>7.0f} ms   (= {ms / baseline:.2f} x one raw-scan panel)")
        browser.close()


if __name__ == "__main__":
    main()
