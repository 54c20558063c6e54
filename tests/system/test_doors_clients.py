"""The real Plausible, Umami and Matomo clients, from npm, sending to a real collector through its doors.

`npm ci` installs the locked clients into tests/clients/node_modules (a git-ignored cache) the first time.
Plausible's tracker runs in Chromium on a page of its own origin; `@umami/node` and `matomo-tracker`
run in node as a site's backend would, with no Origin.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from collector.access.auth import create_token
from collector.devices.detect import warm as warm_devices
from collector.settings import Site
from collector.storage import store
from tests.browser import launch, tool
from tests.conftest import SITE, LiveServer, make_settings

CLIENTS = Path(__file__).parents[1] / "clients"
UMAMI_ID = "0f3c2b1a-9d8e-4f7a-b6c5-d4e3f2a1b0c9"
MATOMO_ID = 3
LINUX_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/124.0.0.0 Mobile Safari/537.36"
)
HIDE_WEBDRIVER = "Object.defineProperty(Navigator.prototype, 'webdriver', {get: () => false, configurable: true})"
COLUMNS = (
    "SELECT site, name, path, screen_w, screen_h, language, device_type, os_name, consented, props"
    " FROM events WHERE path = ? ORDER BY ts"
)


@pytest.fixture(scope="module")
def clients() -> Path:
    """tests/clients with its locked packages installed (npm ci, unless node_modules already matches the lock)."""
    lock = json.loads((CLIENTS / "package-lock.json").read_text(encoding="utf-8"))
    wanted = {k: v["version"] for k, v in lock["packages"].items() if k.startswith("node_modules/")}
    for package, version in wanted.items():
        installed = CLIENTS / package / "package.json"
        if not installed.exists() or json.loads(installed.read_text(encoding="utf-8"))["version"] != version:
            npm = [tool("npm"), "ci", "--no-audit", "--no-fund"]
            subprocess.run(npm, cwd=CLIENTS, check=True, capture_output=True, timeout=300)
            break
    return CLIENTS


class Pages(ThreadingHTTPServer):
    """The website running Plausible's tracker: one tall page, and the tracker module from node_modules."""

    daemon_threads = True

    def __init__(self, tracker: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.origin = f"http://127.0.0.1:{self.server_address[1]}"
        self.tracker = tracker.read_bytes()
        self.endpoint = ""

    def page(self) -> bytes:
        return f"""<!doctype html><html><head><meta charset="utf-8"><title>shop</title>
<script type="module">
import {{ init, track }} from '/plausible.js';
init({{ domain: '{SITE}', endpoint: '{self.endpoint}', captureOnLocalhost: true }});
window.track = track;
</script></head><body><div style="height: 4000px">tall</div></body></html>""".encode()


class _Handler(BaseHTTPRequestHandler):
    server: Pages

    def do_GET(self) -> None:
        js = self.path == "/plausible.js"
        body = self.server.tracker if js else self.server.page()
        self.send_response(200)
        self.send_header("Content-Type", "text/javascript" if js else "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def pages(clients: Path) -> Iterator[Pages]:
    server = Pages(clients / "node_modules" / "@plausible-analytics" / "tracker" / "plausible.js")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def collector(pages: Pages, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path_factory.mktemp("clients"))
    example = replace(settings.sites[0], origins=(*settings.sites[0].origins, pages.origin), k_anonymity=1)
    shop = Site("shop.example", ("https://shop.example",), k_anonymity=1, umami_website_id=UMAMI_ID, server_side=True)
    sites = (replace(example, matomo_site_id=MATOMO_ID), shop)
    live = LiveServer(replace(settings, sites=sites)).start()
    warm_devices()
    pages.endpoint = f"{live.url}/api/event"
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


def wait_rows(collector: LiveServer, sql: str, params: list[Any], count: int) -> list[tuple[Any, ...]]:
    deadline = time.monotonic() + 10
    while True:
        rows = collector.query(sql, params)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def node(clients: Path, script: str, *args: str) -> Any:
    done = subprocess.run([tool("node"), script, *args], cwd=clients, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_plausible_tracker_in_chromium_sends_a_page_view_an_event_with_props_and_engagement(
    browser: Browser, pages: Pages, collector: LiveServer
) -> None:
    context = browser.new_context(user_agent=LINUX_UA, viewport={"width": 1280, "height": 800}, locale="en-US")
    context.add_init_script(HIDE_WEBDRIVER)
    try:
        page = context.new_page()
        answers: list[int] = []
        page.on("response", lambda r: answers.append(r.status) if r.url == pages.endpoint else None)
        page.goto(f"{pages.origin}/pl/shoes?utm_source=news&fbclid=abc")
        page.wait_for_function("typeof window.track === 'function'")
        page.evaluate("track('Add to cart', {props: {sku: 'SH-1', size: 42}})")
        page.mouse.wheel(0, 2400)
        page.wait_for_function("window.scrollY > 2000")
        page.wait_for_timeout(300)
        # The next page view of a single-page app ends this one: the tracker reports its engagement first.
        page.evaluate("history.pushState({}, '', '/pl/cart'); track('pageview')")
        rows = wait_rows(collector, COLUMNS, ["/pl/shoes"], 2)
        reports = "SELECT site, path, scroll_depth, engaged_ms FROM engagement WHERE path = ? ORDER BY scroll_depth"
        engagement = wait_rows(collector, reports, ["/pl/shoes"], 1)
    finally:
        context.close()
    assert rows == [
        (SITE, "pageview", "/pl/shoes", None, None, None, "desktop", "Linux", False, None),
        (SITE, "Add to cart", "/pl/shoes", None, None, None, "desktop", "Linux", False,
         '{"sku":"SH-1","size":"42"}'),
    ]  # fmt: skip
    assert answers and set(answers) == {202}
    # The tracker reports whenever the depth grew or 3 s of engagement passed; the last report holds the most.
    (site, path, depth, engaged) = engagement[-1]
    assert (site, path) == (SITE, "/pl/shoes") and 60 <= depth <= 100 and engaged > 0, engagement
    names = collector.query("SELECT DISTINCT name FROM events WHERE site = ?", [SITE])
    assert all("engagement" not in n for (n,) in names), "engagement is no custom event"


def test_umami_node_client_sends_a_page_view_and_an_event_for_a_server_side_site(
    clients: Path, collector: LiveServer
) -> None:
    answers = node(clients, "send_umami.mjs", collector.url, UMAMI_ID, ANDROID_UA)
    assert [a["status"] for a in answers] == [200, 200, 200]
    rows = wait_rows(collector, COLUMNS, ["/um/pricing"], 2)
    assert rows == [
        ("shop.example", "pageview", "/um/pricing", 1280, 720, "en-GB", "mobile", "Android", False, None),
        ("shop.example", "Signup", "/um/pricing", 1280, 720, "en-GB", "mobile", "Android", False,
         '{"plan":"team","seats":"5"}'),
    ]  # fmt: skip
    assert collector.query("SELECT referrer_host FROM events WHERE path = '/um/pricing' ORDER BY ts")[0] == (
        "news.example",
    )


def test_matomo_tracker_sends_a_page_view_an_event_and_a_bulk_request_with_a_token(
    clients: Path, collector: LiveServer
) -> None:
    assert collector.live.runtime is not None
    cur = store.cursor(collector.live.runtime.con)
    try:
        token = create_token(cur, "matomo-backend", ["ingest"], [SITE])[1]
    finally:
        cur.close()
    answer = node(clients, "send_matomo.cjs", f"{collector.url}/matomo.php", str(MATOMO_ID), token, ANDROID_UA)
    assert answer["errors"] == []
    assert json.loads(answer["bulk"]) == {"status": "success", "tracked": 2, "invalid": 0}
    home = wait_rows(collector, COLUMNS, ["/ma/home"], 2)
    bulk = wait_rows(collector, COLUMNS, ["/ma/bulk"], 2)
    visit = (412, 915, "nl-NL", "mobile", "Android", False)
    assert sorted(home, key=lambda r: r[1]) == [
        (SITE, "Video", "/ma/home", *visit, '{"category":"Video","action":"Play","name":"intro","value":"12"}'),
        (SITE, "pageview", "/ma/home", *visit, None),
    ]
    assert sorted(bulk, key=lambda r: r[1]) == [
        (SITE, "Cart", "/ma/bulk", *visit, '{"category":"Cart","action":"Add","name":"sku-1"}'),
        (SITE, "pageview", "/ma/bulk", *visit, None),
    ]
    visitors = collector.query("SELECT count(DISTINCT visitor) FROM events WHERE path LIKE '/ma/%'")
    assert visitors == [(1,)], "ua and cip serve the daily hash: one visitor"
