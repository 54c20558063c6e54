"""The real snippet in real Chromium: a page on a second loopback origin, the real collector, what lands in DuckDB."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, sync_playwright
from playwright.sync_api import Request as BrowserRequest

from collector.devices.detect import detect
from collector.devices.detect import warm as warm_devices
from collector.http.snippet import load_snippet, tag
from tests.browser import CHROMIUM, LAUNCH_ARGS
from tests.conftest import SITE, LiveServer, make_settings

# Playwright turns the back/forward cache off by default; the snippet must count restored pages, so keep it on.
KEEP_BFCACHE = ["--disable-back-forward-cache"]
LINUX_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
# What Chrome on Android sends today: the model is replaced by "K".
REDUCED_ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36"
)
HIDE_WEBDRIVER = "Object.defineProperty(Navigator.prototype, 'webdriver', {get: () => false, configurable: true})"
WATCH_REJECTIONS = (
    "window.__rejections = []; addEventListener('unhandledrejection', e => __rejections.push(String(e.reason)))"
)
STUB = "window.collector = window.collector || function(){(collector.q = collector.q || []).push(arguments)};"


class SitePages(ThreadingHTTPServer):
    """The website that embeds the snippet: any path serves a page with the tag; some paths get their own page."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _PageHandler)
        self.port = self.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.collector_url = ""
        self.pages: dict[str, str] = {}

    def page(self, head: str = "", allow_local: bool = True) -> str:
        local = " data-allow-local" if allow_local else ""
        return (
            f'<!doctype html><html><head><meta charset="utf-8"><title>site</title>{head}'
            f'<script defer src="{self.collector_url}/js/collector.js" data-site="{SITE}"{local}></script>'
            '</head><body><a id="away" href="/away">away</a></body></html>'
        )


class _PageHandler(BaseHTTPRequestHandler):
    server: SitePages

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        html = self.server.pages.get(path) or self.server.page()
        body = html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store" if path in self.server.pages else "max-age=0")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Tab:
    """One browser context with one page, and every request the context made."""

    context: BrowserContext
    page: Page
    collector: LiveServer
    requests: list[BrowserRequest] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def sent(self, at_least: int = 0, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The bodies the snippet sent to the collector, in order; waits until `at_least` were seen."""
        api = self.collector.url + "/api/event"
        deadline = time.monotonic() + timeout
        while True:
            bodies = [json.loads(r.post_data or "") for r in self.requests if r.url == api]
            if len(bodies) >= at_least or time.monotonic() > deadline:
                return bodies
            self.page.wait_for_timeout(25)  # request events reach Python only while Playwright runs

    def assert_quiet(self) -> None:
        """Errors never reach the page: no uncaught exception, no unhandled promise rejection."""
        if not self.page.is_closed():
            assert self.page.evaluate("window.__rejections || []") == []
        assert self.errors == []

    def rows(self, sql: str, params: list[Any], count: int, timeout: float = 8.0) -> list[tuple[Any, ...]]:
        """Wait (letting the browser run) until the query returns at least `count` rows."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.collector.query(sql, params)
            if len(rows) >= count:
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} rows for {params}, found {rows}; sent: {self.sent()}")
            self.page.wait_for_timeout(25)


def _launch(p: Playwright, *extra: str) -> Browser:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return p.chromium.launch(
        executable_path=str(CHROMIUM), args=[*LAUNCH_ARGS, *extra], ignore_default_args=KEEP_BFCACHE
    )


@pytest.fixture(scope="module")
def site() -> Iterator[SitePages]:
    pages = SitePages()
    thread = threading.Thread(target=pages.serve_forever, daemon=True)
    thread.start()
    yield pages
    pages.shutdown()
    pages.server_close()


@pytest.fixture(scope="module")
def collector(site: SitePages, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path_factory.mktemp("snippet"))
    sites = tuple(replace(s, origins=(*s.origins, site.origin)) if s.domain == SITE else s for s in settings.sites)
    live = LiveServer(replace(settings, sites=sites)).start()
    warm_devices()  # the rule sets load once per process (seconds); here rather than in the first test
    site.collector_url = live.url
    yield live
    live.stop()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = _launch(playwright)
    yield browser
    browser.close()


OpenTab = Callable[..., Tab]


@pytest.fixture
def open_tab(browser: Browser, collector: LiveServer) -> Iterator[OpenTab]:
    """Open a context + page; by default a normal desktop UA and navigator.webdriver hidden (see the notes)."""
    tabs: list[Tab] = []

    def open_tab(
        on: Browser | None = None, hide_webdriver: bool = True, init: tuple[str, ...] = (), **options: Any
    ) -> Tab:
        options.setdefault("user_agent", LINUX_UA)
        context = (on or browser).new_context(**options)
        for script in ((HIDE_WEBDRIVER,) if hide_webdriver else ()) + (WATCH_REJECTIONS, *init):
            context.add_init_script(script)
        tab = Tab(context, context.new_page(), collector)
        context.on("request", lambda request: tab.requests.append(request))
        tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
        tabs.append(tab)
        return tab

    yield open_tab
    for tab in tabs:
        tab.assert_quiet()
        tab.context.close()


def _origins(requests: list[BrowserRequest]) -> set[str]:
    return {f"{urlsplit(r.url).scheme}://{urlsplit(r.url).netloc}" for r in requests}


EVENT_COLUMNS = (
    "SELECT name, path, screen_w, screen_h, language, timezone, device_type, device_model, os_name, "
    "visitor, consented, anonymous, props FROM events WHERE path LIKE ? ORDER BY ts, name"
)


def test_desktop_pageview_lands_with_path_screen_language_and_time_zone(open_tab: OpenTab, site: SitePages) -> None:
    tab = open_tab(
        locale="de-DE",
        timezone_id="Europe/Berlin",
        screen={"width": 1920, "height": 1080},
        viewport={"width": 1280, "height": 720},
    )
    tab.page.goto(site.origin + "/desktop/home?utm_source=news&gclid=abc")
    (row,) = tab.rows(EVENT_COLUMNS, ["/desktop/%"], 1)
    name, path, w, h, language, tz, kind, _, os_name, visitor, consented, anonymous, props = row
    assert (name, path, w, h, language, tz) == ("pageview", "/desktop/home", 1920, 1080, "de-DE", "Europe/Berlin")
    assert (kind, os_name, consented, anonymous, props) == ("desktop", "Linux", False, False, None)
    assert visitor is not None  # the cookieless daily hash
    (sent,) = tab.sent(1)
    assert sent["u"] == site.origin + "/desktop/home?utm_source=news&gclid=abc"
    assert sent["ch"]["platform"] == "Linux" and "brands" not in sent["ch"]
    assert "id" not in sent and "gpc" not in sent
    # Nothing stored in the browser before consent: no cookie, no storage.
    assert tab.context.cookies() == []
    assert tab.page.evaluate("localStorage.length + sessionStorage.length") == 0


def test_android_client_hints_name_the_model_a_reduced_user_agent_hides(
    open_tab: OpenTab, site: SitePages, playwright: Playwright
) -> None:
    device = {k: v for k, v in playwright.devices["Pixel 7"].items() if k != "default_browser_type"}
    tab = open_tab(**(device | {"user_agent": REDUCED_ANDROID_UA}))
    cdp = tab.context.new_cdp_session(tab.page)
    cdp.send(
        "Emulation.setUserAgentOverride",
        {
            "userAgent": REDUCED_ANDROID_UA,
            "userAgentMetadata": {
                "brands": [{"brand": "Chromium", "version": "156"}, {"brand": "Google Chrome", "version": "156"}],
                "fullVersionList": [],
                "platform": "Android",
                "platformVersion": "14.0.0",
                "architecture": "",
                "model": "Pixel 7",
                "mobile": True,
            },
        },
    )
    tab.page.goto(site.origin + "/android/")
    (row,) = tab.rows(EVENT_COLUMNS, ["/android/%"], 1)
    assert row[6:9] == ("mobile", "Pixel 7", "Android")
    assert tab.sent(1)[0]["ch"] == {
        "model": "Pixel 7",
        "platform": "Android",
        "platformVersion": "14.0.0",
        "mobile": True,
    }
    assert detect(REDUCED_ANDROID_UA, {}).device_model != "Pixel 7"  # the UA alone does not name it


def test_iphone_without_user_agent_data_is_counted_with_the_device_from_the_user_agent(
    open_tab: OpenTab, site: SitePages, playwright: Playwright
) -> None:
    device = {k: v for k, v in playwright.devices["iPhone 13"].items() if k != "default_browser_type"}
    tab = open_tab(init=("delete Navigator.prototype.userAgentData",), **device)
    tab.page.goto(site.origin + "/iphone/")
    (row,) = tab.rows(EVENT_COLUMNS, ["/iphone/%"], 1)
    assert row[6] == "mobile" and row[8] == "iOS"
    assert "ch" not in tab.sent(1)[0]


def test_spa_navigation_counts_each_new_page_once(open_tab: OpenTab, site: SitePages) -> None:
    tab = open_tab(init=("addEventListener('pageshow', e => { window.__restored = e.persisted })",))
    tab.page.goto(site.origin + "/spa/start")
    tab.page.evaluate(
        """() => {
        history.pushState({}, '', '/spa/a');
        history.pushState({}, '', '/spa/b');
        history.pushState({}, '', '/spa/c');
        history.replaceState({}, '', '/spa/c?tab=2');   // same path: no page view
        history.replaceState({}, '', '/spa/c?tab=2#x');  // nor here
        history.pushState({}, '', '/spa/c?tab=2#y');     // nor a hash change
    }"""
    )
    tab.page.go_back()  # popstate back to /spa/c?tab=2#x: the same page, none
    tab.page.go_back()  # to /spa/b: a page view
    tab.page.evaluate("history.replaceState({}, '', '/spa/renamed')")  # a new path: a page view
    tab.rows(EVENT_COLUMNS, ["/spa/%"], 6)
    # Leave for another document, come back from the back/forward cache: counted once, scripts do not rerun.
    tab.page.click("#away")
    tab.page.wait_for_url("**/away")
    tab.page.go_back(wait_until="commit")
    tab.page.wait_for_function("window.__restored === true")
    rows = tab.rows(EVENT_COLUMNS, ["/spa/%"], 7)
    paths = ["/spa/start", "/spa/a", "/spa/b", "/spa/c", "/spa/b", "/spa/renamed", "/spa/renamed"]
    assert sorted(r[1] for r in rows) == sorted(paths)
    assert [urlsplit(s["u"]).path for s in tab.sent(8)] == [*paths[:6], "/away", "/spa/renamed"]
    documents = [urlsplit(r.url).path for r in tab.requests if r.resource_type == "document"]
    assert documents == ["/spa/start", "/away"]  # the last view came from the cache, not a reload
    assert tab.sent()[1]["r"] == site.origin + "/spa/start"  # an SPA view's referrer is the previous page


def test_custom_events_with_props_and_calls_queued_before_load(open_tab: OpenTab, site: SitePages) -> None:
    queued = f"<script>{STUB} collector('event', 'signup', {{plan: 'pro', seats: 3}});</script>"
    site.pages["/custom/"] = site.page(head=queued)
    tab = open_tab()
    tab.page.goto(site.origin + "/custom/")
    tab.page.evaluate("collector('event', 'purchase', {currency: 'EUR', value: '19.90'})")
    rows = tab.rows(EVENT_COLUMNS, ["/custom/%"], 3)
    assert sorted((r[0], json.loads(r[12]) if r[12] else None) for r in rows) == [
        ("pageview", None),
        ("purchase", {"currency": "EUR", "value": "19.90"}),
        ("signup", {"plan": "pro", "seats": "3"}),
    ]
    assert [s.get("n") for s in tab.sent(3)] == [None, "signup", "purchase"]  # page view first, then the queue


def _assert_anonymous(tab: Tab, site: SitePages, prefix: str) -> None:
    tab.page.goto(site.origin + prefix + "1")
    tab.page.evaluate(f"collector('consent', true); history.pushState({{}}, '', '{prefix}2')")
    rows = tab.rows(EVENT_COLUMNS, [prefix + "%"], 2)
    assert sorted((r[1], r[9], r[10], r[11]) for r in rows) == [
        (prefix + "1", None, False, True),
        (prefix + "2", None, False, True),
    ]
    for sent in tab.sent(2):
        assert sent["gpc"] is True and "id" not in sent and "ch" not in sent


def test_global_privacy_control_sends_no_id_nor_hints_and_keeps_only_anonymous_events(
    open_tab: OpenTab, site: SitePages, playwright: Playwright
) -> None:
    gpc_browser = _launch(playwright, "--enable-features=GlobalPrivacyControlForce")
    try:
        tab = open_tab(on=gpc_browser)
        _assert_anonymous(tab, site, "/gpc/")
        assert tab.page.evaluate("navigator.globalPrivacyControl") is True
        assert all(r.headers.get("sec-gpc") == "1" for r in tab.requests)
        tab.assert_quiet()
    finally:
        gpc_browser.close()


def test_the_snippets_own_gpc_mark_is_enough_without_the_header(open_tab: OpenTab, site: SitePages) -> None:
    tab = open_tab(init=("Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})",))
    _assert_anonymous(tab, site, "/gpc-page/")
    assert not any("sec-gpc" in r.headers for r in tab.requests)


def test_do_not_track_is_treated_like_gpc(open_tab: OpenTab, site: SitePages) -> None:
    tab = open_tab(init=("Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})",))
    _assert_anonymous(tab, site, "/dnt/")


def test_consent_gives_a_first_party_id_and_withdrawal_removes_it(open_tab: OpenTab, site: SitePages) -> None:
    tab = open_tab()
    page = tab.page
    page.goto(site.origin + "/consent/1")
    page.evaluate("collector('consent', true)")
    stored = page.evaluate("localStorage.getItem('collector_id')")
    assert isinstance(stored, str) and len(stored) >= 20
    page.evaluate("collector('consent', true); history.pushState({}, '', '/consent/2')")  # asking again keeps the id
    page.reload()  # /consent/2 again: the same visitor across loads
    page.evaluate("collector('consent', false); history.pushState({}, '', '/consent/3')")
    assert page.evaluate("localStorage.getItem('collector_id')") is None
    rows = tab.rows(EVENT_COLUMNS, ["/consent/%"], 4)
    assert sorted((r[1], r[10]) for r in rows) == [
        ("/consent/1", False),
        ("/consent/2", True),
        ("/consent/2", True),
        ("/consent/3", False),
    ]
    visitors = {path: {r[9] for r in rows if r[1] == path} for path in ("/consent/1", "/consent/2", "/consent/3")}
    assert len(visitors["/consent/2"]) == 1  # the same visitor across loads
    assert visitors["/consent/2"].isdisjoint(visitors["/consent/1"] | visitors["/consent/3"])
    assert [s.get("id") for s in tab.sent(4)] == [None, stored, stored, None]
    assert tab.context.cookies() == []
    # The raw id reaches no column (the whole row as text, which does hold the path).
    whole_row = "SELECT count(*) FROM events AS e WHERE CAST(e AS VARCHAR) LIKE '%' || ? || '%'"
    assert tab.collector.query(whole_row, ["/consent/2"]) == [(2,)]
    assert tab.collector.query(whole_row, [stored]) == [(0,)]


def test_a_page_on_an_unregistered_origin_stores_nothing(open_tab: OpenTab, site: SitePages) -> None:
    tab = open_tab()
    foreign = f"http://localhost:{site.port}"  # another origin for the same server, not registered
    tab.page.goto(foreign + "/foreign/")
    sent = tab.sent(1)
    assert [body["u"] for body in sent] == [foreign + "/foreign/"]
    # Chromium reports no response of a keepalive fetch to Playwright: the same request again shows the answer.
    again = httpx.post(
        tab.collector.url + "/api/event",
        content=json.dumps(sent[0]),
        headers={"Origin": foreign, "Content-Type": "text/plain;charset=UTF-8", "User-Agent": LINUX_UA},
    )
    assert again.status_code == 403
    assert tab.collector.query("SELECT count(*) FROM events WHERE path LIKE '/foreign/%'") == [(0,)]


def test_the_page_talks_to_no_host_but_the_collector(open_tab: OpenTab, site: SitePages, collector: LiveServer) -> None:
    tab = open_tab()
    tab.page.goto(site.origin + "/hosts/")
    tab.page.evaluate(
        "collector('consent', true); collector('event', 'click', {to: 'x'}); history.pushState({}, '', '/hosts/2')"
    )
    tab.rows(EVENT_COLUMNS, ["/hosts/%"], 3)
    assert len(tab.sent(3)) == 3
    assert _origins(tab.requests) == {site.origin, collector.url}
    to_collector = {urlsplit(r.url).path for r in tab.requests if r.url.startswith(collector.url)}
    assert to_collector == {"/js/collector.js", "/api/event"}
    assert {r.headers["content-type"] for r in tab.requests if r.method == "POST"} == {"text/plain;charset=UTF-8"}
    assert not any(r.method == "OPTIONS" for r in tab.requests)  # no CORS preflight


def test_navigator_webdriver_left_true_is_dropped_and_counted(open_tab: OpenTab, site: SitePages) -> None:
    def automation_drops() -> int:
        rows = tab.collector.query("SELECT sum(events) FROM drops WHERE reason = 'automation'")
        return int(rows[0][0] or 0)

    tab = open_tab(hide_webdriver=False)
    before = automation_drops()
    tab.page.goto(site.origin + "/webdriver/")
    assert tab.sent(1)[0]["wd"] is True
    deadline = time.monotonic() + 5
    while automation_drops() == before and time.monotonic() < deadline:
        tab.page.wait_for_timeout(25)
    assert automation_drops() == before + 1
    assert tab.collector.query("SELECT count(*) FROM events WHERE path LIKE '/webdriver/%'") == [(0,)]


def test_the_opt_out_flag_silences_the_site_owners_browser(open_tab: OpenTab, site: SitePages) -> None:
    tab = open_tab()
    tab.page.goto(site.origin + "/optout/1")
    tab.page.evaluate(
        """() => {
        localStorage.setItem('collector_ignore', 'true');
        collector('event', 'ignored');
        history.pushState({}, '', '/optout/2');
        localStorage.removeItem('collector_ignore');
        setTimeout(() => collector('event', 'after'), 50);
    }"""
    )
    rows = tab.rows(EVENT_COLUMNS, ["/optout/%"], 2)
    assert [(r[0], r[1]) for r in rows] == [("pageview", "/optout/1"), ("after", "/optout/2")]


def test_local_pages_are_ignored_unless_allowed(open_tab: OpenTab, site: SitePages) -> None:
    site.pages["/local/"] = site.page(allow_local=False)
    tab = open_tab()
    tab.page.goto(site.origin + "/local/")
    tab.page.wait_for_timeout(300)
    assert any(r.url.endswith("/js/collector.js") for r in tab.requests)
    assert tab.sent() == []
    assert tab.page.evaluate("typeof window.collector") == "undefined"


def test_fetch_keepalive_is_the_transport_and_a_failing_collector_stays_silent(
    open_tab: OpenTab, site: SitePages
) -> None:
    tab = open_tab()
    tab.page.goto(site.origin + "/fetch/")
    tab.rows(EVENT_COLUMNS, ["/fetch/%"], 1)
    tab.sent(1)  # the request event may reach Python after the row reached the database
    assert [r.resource_type for r in tab.requests if r.method == "POST"] == ["fetch"]

    down = open_tab()
    down.context.route("**/api/event", lambda route: route.abort())
    down.page.goto(site.origin + "/fetch-down/")
    down.page.evaluate("collector('event', 'x')")
    down.page.wait_for_timeout(200)
    assert len(down.sent(2)) == 2  # tried; the failures reach neither the console nor the page (checked at teardown)


def fail_first(tab: Tab, fail: Callable[[Route], None]) -> None:
    """The first request to the collector fails as `fail` says; the next ones reach the real collector."""
    failed: list[str] = []

    def route(route: Route) -> None:
        if failed:
            route.continue_()
        else:
            failed.append(route.request.url)
            fail(route)

    tab.context.route("**/api/event", route)


def answer(status: int, site: SitePages) -> Callable[[Route], None]:
    """What the collector answers when it could not store the events (503) or refuses them for good (403)."""
    headers = {"Access-Control-Allow-Origin": site.origin, "Retry-After": "1", "Content-Type": "application/json"}
    return lambda route: route.fulfill(status=status, headers=headers, body='{"error": "refused", "field": null}')


def test_a_page_view_the_collector_did_not_store_is_sent_once_more_while_the_page_is_open(
    open_tab: OpenTab, site: SitePages
) -> None:
    unavailable, unreachable, forbidden = open_tab(), open_tab(), open_tab()
    fail_first(unavailable, answer(503, site))
    fail_first(unreachable, lambda route: route.abort("connectionrefused"))
    fail_first(forbidden, answer(403, site))
    started = time.monotonic()
    for tab, path in ((unavailable, "/retry-503/"), (unreachable, "/retry-down/"), (forbidden, "/retry-403/")):
        tab.page.goto(site.origin + path)
    rows = unavailable.rows("SELECT path FROM events WHERE path LIKE ? ORDER BY path", ["/retry-%"], 2, timeout=15)
    waited = time.monotonic() - started
    assert rows == [("/retry-503/",), ("/retry-down/",)]
    assert 4.5 < waited < 10, f"the second try comes about 5 s later, here {waited:.1f} s"
    assert len(unavailable.sent(2)) == len(unreachable.sent(2)) == 2
    assert len(forbidden.sent()) == 1, "a refusal for good is not tried again"


def test_the_printed_tag_with_its_integrity_hash_loads_and_counts(
    open_tab: OpenTab, site: SitePages, collector: LiveServer
) -> None:
    printed = tag(load_snippet(), collector.url, SITE)
    local = printed.replace("></script>", " data-allow-local></script>")
    site.pages["/sri/"] = f"<!doctype html><title>sri</title>{local}"
    wrong = re.sub(r'integrity="sha384-[^"]+"', f'integrity="sha384-{"A" * 64}"', local)
    site.pages["/sri-tampered/"] = f"<!doctype html><title>sri</title>{wrong}"
    tab = open_tab()
    tab.page.goto(site.origin + "/sri/")
    tab.rows(EVENT_COLUMNS, ["/sri/%"], 1)
    script = next(r for r in tab.requests if r.url.endswith("/js/collector.js")).response()
    assert (
        script is not None and script.all_headers()["content-encoding"] == "br"
    )  # the hash holds on the decoded bytes
    tab.page.goto(site.origin + "/sri-tampered/")
    tab.page.wait_for_timeout(200)
    assert tab.page.evaluate("typeof window.collector") == "undefined"  # the browser refused the script
    assert [urlsplit(s["u"]).path for s in tab.sent(1)] == ["/sri/"]
