"""The dashboard in real Chromium: log in, every panel filled from the fixture, filter, period, live view."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from collector.access import sessions, users
from collector.access.auth import Principal
from collector.settings import Funnel, Goal
from collector.storage import store
from tests.browser import CHROMIUM, LAUNCH_ARGS
from tests.conftest import DESKTOP_UA, ORIGIN, LiveServer, make_settings
from tests.querydata import EVENTS, SITE, B, D, Row, insert_events, insert_extras

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "dashboard"
PASSWORD = "correct horse battery"
FIXTURE_VIEW = "/dashboard?site=example.com&period=custom&from=2026-11-01&to=2026-11-03"
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)


def _yesterday(hour: str) -> str:
    return f"{(datetime.now(UTC).date() - timedelta(days=1)).isoformat()} {hour}"


# Two visitors yesterday, so the last 7 days hold numbers of their own: B with two page views, D with one.
RECENT: list[Row] = [
    (_yesterday("08:00"), 20, False, B, "pageview", "/", None, None, None),
    (_yesterday("08:05"), 20, False, B, "pageview", "/pricing", None, None, None),
    (_yesterday("09:00"), 21, False, D, "pageview", "/docs", None, None, None),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path_factory.mktemp("dashboard-browser"))
    first = replace(
        settings.sites[0],
        k_anonymity=1,
        goals=(Goal("Signed up", "event:signup"), Goal("Read the docs", "/docs")),
        funnels=(Funnel("Home to pricing to signup", ("/", "/pricing", "event:signup")),),
    )
    live = LiveServer(replace(settings, sites=(first, settings.sites[1]))).start()
    try:
        assert live.live.runtime is not None
        cur = store.cursor(live.live.runtime.con)
        insert_events(cur, EVENTS[:-1])
        insert_events(cur, RECENT)
        insert_extras(cur)
        users.add_user(cur, "ann", users.hash_password(PASSWORD), ["stats:read"], None)
        cur.close()
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@dataclass
class Tab:
    context: BrowserContext
    page: Page
    origin: str
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        foreign = [u for u in self.requests if not u.startswith(self.origin + "/")]
        assert foreign == [], "requests left the collector's origin"
        assert self.problems == [], "console errors or page errors"

    def ready(self) -> None:
        self.page.wait_for_selector('body[data-ready="1"]', timeout=15_000)

    def kpi(self, name: str) -> str:
        return self.page.locator(f'[data-kpi="{name}"]').inner_text()

    def rows(self, panel: str) -> list[str]:
        script = "els => els.map(e => [...e.childNodes].map(n => n.textContent).join(' '))"
        labels: list[str] = self.page.locator(f'[data-panel="{panel}"] .row .label').evaluate_all(script)
        return labels


def open_tab(browser: Browser, server: LiveServer, **options: Any) -> Tab:
    context = browser.new_context(user_agent=DESKTOP_UA, **options)
    page = context.new_page()
    tab = Tab(context, page, server.url)
    page.on("request", lambda r: tab.requests.append(r.url))
    page.on("console", lambda m: tab.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: tab.problems.append(str(e)))
    return tab


def log_in(tab: Tab, view: str = FIXTURE_VIEW) -> None:
    tab.page.goto(tab.origin + view)
    tab.page.fill('input[name="user"]', "ann")
    tab.page.fill('input[name="password"]', PASSWORD)
    tab.page.click('button[type="submit"] >> text="Log in"')
    tab.page.wait_for_url("**/dashboard?**")
    tab.ready()


def open_view(tab: Tab, server: LiveServer, view: str = FIXTURE_VIEW) -> None:
    """Open a view with a session made the way a login makes it (the first test logs in through the form)."""
    assert server.live.runtime is not None
    cur = store.cursor(server.live.runtime.con)
    try:
        secret, _ = sessions.create(cur, Principal("user:ann", "ann", frozenset({"stats:read"}), None), "user")
    finally:
        cur.close()
    cookie = {"name": sessions.COOKIE, "value": secret, "domain": "127.0.0.1", "path": "/dashboard"}
    tab.context.add_cookies([cookie])  # type: ignore[list-item]
    tab.page.goto(tab.origin + view)
    tab.ready()


@pytest.fixture
def tab(browser: Browser, server: LiveServer) -> Iterator[Tab]:
    tab = open_tab(browser, server, viewport={"width": 1280, "height": 900})
    yield tab
    tab.context.close()


def test_after_login_every_panel_is_filled_with_the_fixture_numbers(tab: Tab) -> None:
    log_in(tab)
    assert tab.page.url.endswith(FIXTURE_VIEW)  # the shared view survived the login
    assert (tab.kpi("visitors"), tab.kpi("pageviews"), tab.kpi("visits"), tab.kpi("views_per_visit")) == (
        "6", "12", "6", "1.50",
    )  # fmt: skip
    assert tab.page.locator("#chart path.line-v").count() == 1
    assert tab.rows("pages") == ["/", "/pricing", "/docs", "(other)"]
    assert tab.page.locator('[data-panel="pages"] .row .num').all_inner_texts() == ["4", "4", "1", "0"]
    assert tab.rows("entry_pages") == ["/", "/pricing"]
    assert tab.rows("referrers") == ["(direct)", "google.com", "news.ycombinator.com"]
    assert tab.rows("campaigns") == ["news / email / launch"]
    assert tab.rows("devices") == ["Apple Mac desktop", "Dell XPS desktop", "Samsung SM-S911B smartphone", "(other)"]
    assert tab.rows("os") == ["Mac OS X 14.4", "Android 14", "Windows 11", "(other)"]
    assert tab.rows("browsers") == ["Safari 17.4", "Chrome 124"]
    classes = tab.page.locator('[data-panel="screens"] .class b').all_inner_texts()
    assert classes == ["1", "0", "0", "5"]  # phone, tablet, laptop, desktop
    assert tab.rows("screens") == ["1440x900 desktop", "390x844 phone", "1920x1080 desktop"]  # ties: more views first
    assert tab.rows("languages") == ["en-US", "de-DE"]
    assert tab.rows("timezones") == ["Europe/Berlin", "America/New_York"]
    assert tab.rows("events")[0] == "signup"
    assert tab.rows("segments") == ["buyers bought twice", "browsers read three pages", "(other)"]
    assert tab.rows("third_parties")[0].startswith("tracker.example")
    caveat = tab.page.locator('[data-panel="third_parties"] .caveat').inner_text()
    assert caveat.startswith("These are browser reports, not proof"), caveat
    assert tab.rows("drops") == ["bot", "prefetch"]
    assert tab.page.locator('[data-panel="drops"] .row .num').all_inner_texts() == ["5", "1"]
    tab.assert_clean()


def test_clicking_a_brand_filters_the_whole_page_and_the_url_keeps_it(tab: Tab, server: LiveServer) -> None:
    open_view(tab, server)
    tab.page.click('[data-panel="devices"] [data-tab="brand"]')
    assert tab.rows("devices") == ["Apple", "Dell", "Samsung", "(other)"]
    tab.page.click('[data-panel="devices"] button.row[data-value="Samsung"]')
    tab.ready()
    assert "device_brand=Samsung" in tab.page.url
    expect(tab.page.locator(".chip")).to_contain_text("Brand is Samsung")
    assert (tab.kpi("visitors"), tab.kpi("pageviews")) == ("1", "2")
    assert tab.rows("pages") == ["/", "/pricing"]
    assert tab.rows("os") == ["Android 14"]
    assert tab.page.locator('[data-panel="drops"] .note').inner_text() == "Not narrowed by the filters."
    shared = tab.page.url
    tab.page.click(".chip")
    tab.ready()
    assert tab.kpi("visitors") == "6" and "device_brand" not in tab.page.url
    tab.page.goto(shared)  # a shared link opens the filtered view
    tab.ready()
    assert tab.kpi("visitors") == "1"
    tab.assert_clean()


def test_switching_the_period_changes_the_numbers(tab: Tab, server: LiveServer) -> None:
    open_view(tab, server)
    tab.page.click('#periods button[data-period="7d"]')
    tab.ready()
    assert "period=7d" in tab.page.url
    assert (tab.kpi("visitors"), tab.kpi("pageviews")) == ("2", "3")
    assert tab.rows("pages") == ["/", "/docs", "/pricing"]
    tab.page.go_back()
    tab.ready()
    assert tab.kpi("visitors") == "6"
    tab.assert_clean()


def test_the_live_view_updates_after_new_events_arrive(tab: Tab, server: LiveServer) -> None:
    open_view(tab, server)
    live = tab.page.locator("#live-count")
    expect(live).to_have_text("0")
    for ua in (DESKTOP_UA, PHONE_UA):
        r = httpx.post(
            f"{server.url}/api/event",
            json={"d": SITE, "u": "https://example.com/live", "w": 1280},
            headers={"Origin": ORIGIN, "User-Agent": ua},
        )
        assert r.status_code == 202, r.text
    started = time.monotonic()
    expect(live).to_have_text("2", timeout=15_000)
    assert time.monotonic() - started < 15
    assert tab.page.url.endswith(FIXTURE_VIEW)  # no reload
    tab.assert_clean()


def test_goals_funnel_and_retention_panels_show_the_configured_numbers(tab: Tab, server: LiveServer) -> None:
    open_view(tab, server)
    goals = tab.page.locator('[data-panel="goals"]')
    # Visitors A, B, C, D: A and C signed up, D read /docs.
    assert tab.rows("goals")[:2] == ["Signed up event:signup", "Read the docs /docs"]
    assert goals.locator(".row .num").all_inner_texts()[:2] == ["2", "1"]
    assert goals.locator(".row .num2").all_inner_texts()[:2] == ["50%", "25%"]
    # The funnel: / for A, B, C and D; then /pricing in the same visit for A, B and C; no signup after both.
    funnel = goals.locator('[data-funnel="Home to pricing to signup"]')
    assert funnel.locator(".row .num").all_inner_texts() == ["4", "3", "0"]
    minus = "\N{MINUS SIGN}"
    assert funnel.locator(".row .num2").all_inner_texts() == ["100%", f"75% ({minus}1)", f"0% ({minus}3)"]
    # C, consented, first seen in the week of Oct 26 and back in the next week.
    cells = tab.page.locator('[data-panel="retention"] tbody tr').first.locator("th, td").all_inner_texts()
    assert cells == ["2026-10-26", "1", "100%", "100%"]
    caveat = tab.page.locator('[data-panel="retention"] .caveat').inner_text()
    assert "daily salt changes" in caveat
    OUTPUT.mkdir(parents=True, exist_ok=True)
    tab.page.locator('[data-panel="goals"]').screenshot(path=str(OUTPUT / "goals.png"))
    tab.page.locator('[data-panel="retention"]').screenshot(path=str(OUTPUT / "retention.png"))
    tab.assert_clean()


def test_filter_expressions_in_the_url_narrow_the_page_and_show_as_chips(tab: Tab, server: LiveServer) -> None:
    open_view(tab, server, FIXTURE_VIEW + "&filter=device_brand!%3DApple&filter=path~pric")
    chips = tab.page.locator(".chip").all_inner_texts()
    chips = [" ".join(c.replace("\N{MULTIPLICATION SIGN}", "").split()) for c in chips]
    assert chips == ["Brand is not Apple", "Page contains pric"]
    # B's visit (/, /pricing): D's visit never saw /pricing and every Apple event is left out.
    assert (tab.kpi("visitors"), tab.kpi("pageviews")) == ("1", "2")
    assert tab.rows("pages") == ["/", "/pricing"]
    tab.page.locator('.chip[data-expr="path~pric"]').click()
    tab.ready()
    assert "path~pric" not in tab.page.url and tab.kpi("visitors") == "2"
    tab.assert_clean()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_desktop_and_phone_screenshots(browser: Browser, server: LiveServer, scheme: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    layouts: dict[str, dict[str, Any]] = {
        "desktop": {"viewport": {"width": 1280, "height": 900}},
        "phone": {
            "viewport": {"width": 390, "height": 844},
            "device_scale_factor": 2,
            "is_mobile": True,
            "has_touch": True,
        },
    }
    for layout, options in layouts.items():
        tab = open_tab(browser, server, color_scheme=scheme, **options)
        try:
            open_view(tab, server)
            width = tab.page.evaluate("document.documentElement.scrollWidth")
            assert width <= options["viewport"]["width"], f"{layout} scrolls sideways"
            tab.page.screenshot(path=str(OUTPUT / f"{layout}-{scheme}.png"), full_page=True)
            tab.assert_clean()
        finally:
            tab.context.close()
