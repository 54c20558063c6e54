from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from collector.access import auth, sessions, users
from collector.storage import store
from tests.conftest import LiveServer, make_settings
from tests.querydata import SITE, insert_events, insert_extras

PASSWORD = "correct horse battery"
PERIOD = {"site": SITE, "period": "custom", "from": "2026-11-01", "to": "2026-11-03"}


class Fixture:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.url = server.url

    def run(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.server.query(sql, params)

    def cursor(self) -> Any:
        assert self.server.live.runtime is not None
        return store.cursor(self.server.live.runtime.con)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    settings = make_settings(tmp_path_factory.mktemp("dashboard"))
    sites = (replace(settings.sites[0], k_anonymity=1), settings.sites[1])
    server = LiveServer(replace(settings, sites=sites)).start()
    try:
        fixture = Fixture(server)
        cur = fixture.cursor()
        insert_events(cur)
        insert_extras(cur)
        users.add_user(cur, "ann", users.hash_password(PASSWORD), ["stats:read"], None)
        users.add_user(cur, "olaf", users.hash_password(PASSWORD), ["stats:read"], ["other.org"])
        cur.close()
        yield fixture
    finally:
        server.stop()


_open: list[httpx.Client] = []


def open_client(url: str, **kwargs: Any) -> httpx.Client:
    client = httpx.Client(base_url=url, **kwargs)
    _open.append(client)
    return client


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def login_form(client: httpx.Client) -> str:
    r = client.get("/dashboard/login")
    assert r.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', r.text)
    assert found
    return found.group(1)


def log_in(app: Fixture, **fields: str) -> httpx.Client:
    client = open_client(app.url)
    csrf = login_form(client)
    r = client.post("/dashboard/login", data={"csrf": csrf, **fields}, headers={"Origin": app.url})
    assert r.status_code == 303, r.text
    return client


def session_for(app: Fixture, user: str, sites: frozenset[str] | None = None) -> httpx.Client:
    """A client with a session made the way a login makes it, without paying argon2 for every test."""
    cur = app.cursor()
    try:
        principal = auth.Principal(f"user:{user}", user, frozenset({"stats:read"}), sites)
        secret, _ = sessions.create(cur, principal, "user")
    finally:
        cur.close()
    return open_client(app.url, cookies={sessions.COOKIE: secret})


def token(app: Fixture, name: str, scopes: list[str]) -> str:
    cur = app.cursor()
    try:
        return auth.create_token(cur, name, scopes)[1]
    finally:
        cur.close()


def test_the_dashboard_sends_strangers_to_the_login_and_its_api_answers_401(app: Fixture) -> None:
    r = httpx.get(f"{app.url}/dashboard?site=example.com&device_brand=Samsung")
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard/login?next=%2Fdashboard%3Fsite%3Dexample.com%26device_brand%3DSamsung"
    for path in ("/dashboard/api/report", "/dashboard/api/live"):
        r = httpx.get(f"{app.url}{path}", params={"site": SITE})
        assert r.status_code == 401
        assert r.json()["field"] == "session"


def test_a_user_logs_in_with_a_password_and_gets_a_strict_http_only_cookie(app: Fixture) -> None:
    client = open_client(app.url)
    csrf = login_form(client)
    r = client.post(
        "/dashboard/login",
        data={"csrf": csrf, "user": "ann", "password": PASSWORD, "next": "/dashboard?site=example.com&period=7d"},
        headers={"Origin": app.url},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard?site=example.com&period=7d"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(sessions.COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # plain http on loopback; https adds Secure
    page = client.get("/dashboard")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert 'src="/dashboard/static/dashboard.js?v=' in page.text
    assert app.run("SELECT token_name, outcome FROM audit_log WHERE action = 'dashboard:login'")[-1] == (
        "ann",
        "allowed",
    )
    secret = client.cookies[sessions.COOKIE]
    assert not app.run("SELECT 1 FROM dashboard_sessions WHERE secret_hash = ?", [secret.encode()])


def test_a_wrong_password_or_unknown_user_is_refused_and_audited_without_the_name(app: Fixture) -> None:
    for user in ("ann", "nobody"):
        client = open_client(app.url)
        csrf = login_form(client)
        r = client.post(
            "/dashboard/login",
            data={"csrf": csrf, "user": user, "password": "wrong password!"},
            headers={"Origin": app.url},
        )
        assert r.status_code == 401
        assert "did not work" in r.text
        assert sessions.COOKIE not in client.cookies
    outcomes = app.run("SELECT token_name, outcome FROM audit_log WHERE action = 'dashboard:login' ORDER BY ts")
    assert outcomes[-2:] == [("(unknown user)", "denied"), ("(unknown user)", "denied")]


def test_a_stats_token_logs_in_and_revoking_it_ends_the_session(app: Fixture) -> None:
    client = log_in(app, token=token(app, "dash-token", ["stats:read"]))
    assert client.get("/dashboard/api/live", params={"site": SITE}).status_code == 200
    cur = app.cursor()
    cur.execute("UPDATE tokens SET revoked_at = now() WHERE name = 'dash-token'")
    cur.close()
    assert client.get("/dashboard/api/live", params={"site": SITE}).status_code == 401


def test_a_token_without_stats_read_or_admin_cannot_log_in(app: Fixture) -> None:
    client = open_client(app.url)
    csrf = login_form(client)
    r = client.post(
        "/dashboard/login",
        data={"csrf": csrf, "token": token(app, "seg", ["segments:read"])},
        headers={"Origin": app.url},
    )
    assert r.status_code == 401
    assert app.run("SELECT outcome FROM audit_log WHERE token_name = 'seg'") == [("denied: no stats:read",)]


def test_login_needs_the_forms_csrf_value_and_our_own_origin(app: Fixture) -> None:
    client = open_client(app.url)
    csrf = login_form(client)
    fields = {"user": "ann", "password": PASSWORD}
    assert client.post("/dashboard/login", data={"csrf": "forged", **fields}).status_code == 403
    r = client.post("/dashboard/login", data={"csrf": csrf, **fields}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["field"] == "origin"
    r = client.post("/dashboard/login", data={"csrf": csrf, **fields}, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    fresh = open_client(app.url)  # no login cookie: a value copied from another page does not help
    assert fresh.post("/dashboard/login", data={"csrf": csrf, **fields}).status_code == 403
    assert client.post("/dashboard/login", json={"csrf": csrf, **fields}).status_code == 403
    assert sessions.COOKIE not in client.cookies and sessions.COOKIE not in fresh.cookies


def test_the_next_page_after_login_is_never_another_host(app: Fixture) -> None:
    for target in ("https://evil.example/", "//evil.example", "/dashboard\\@evil.example", "/metrics"):
        client = open_client(app.url)
        csrf = login_form(client)
        r = client.post(
            "/dashboard/login", data={"csrf": csrf, "user": "ann", "password": PASSWORD, "next": target},
            headers={"Origin": app.url},
        )  # fmt: skip
        assert r.headers["location"] == "/dashboard"


def test_logout_needs_the_sessions_csrf_token_then_ends_it(app: Fixture) -> None:
    client = log_in(app, user="ann", password=PASSWORD)
    page = client.get("/dashboard").text
    found = re.search(r'<meta name="csrf" content="([^"]+)"', page)
    assert found
    assert client.post("/dashboard/logout", data={"csrf": "nope"}).status_code == 403
    assert client.get("/dashboard/api/live", params={"site": SITE}).status_code == 200
    r = client.post("/dashboard/logout", data={"csrf": found.group(1)}, headers={"Origin": app.url})
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/login"
    assert client.get("/dashboard/api/live", params={"site": SITE}).status_code == 401


def test_an_expired_session_is_refused(app: Fixture) -> None:
    cur = app.cursor()
    principal = auth.Principal("user:ann", "ann", frozenset({"stats:read"}), None)
    secret, _ = sessions.create(cur, principal, "user", now=datetime.now() - sessions.LIFETIME - timedelta(minutes=1))
    cur.close()
    client = open_client(app.url, cookies={sessions.COOKIE: secret})
    assert client.get("/dashboard/api/live", params={"site": SITE}).status_code == 401
    assert client.get("/dashboard").status_code == 303


def test_a_user_limited_to_one_site_gets_403_for_another(app: Fixture) -> None:
    client = log_in(app, user="olaf", password=PASSWORD)
    assert client.get("/dashboard/api/report", params=PERIOD).status_code == 403
    assert client.get("/dashboard/api/live", params={"site": SITE}).status_code == 403
    assert client.get("/dashboard/api/live", params={"site": "other.org"}).status_code == 200
    assert '<option value="other.org">' in client.get("/dashboard").text
    assert '<option value="example.com">' not in client.get("/dashboard").text


def test_the_report_holds_every_panel_from_the_named_queries(app: Fixture) -> None:
    client = session_for(app, "ann")
    body = client.get("/dashboard/api/report", params=PERIOD).json()
    assert body["from"] == "2026-11-01" and body["previous"] == {"from": "2026-10-29", "to": "2026-10-31"}
    panels = body["panels"]
    assert set(panels) == {
        "overview", "previous_overview", "pages", "entry_pages", "referrers", "campaigns", "devices", "os",
        "browsers", "screen_classes", "screen_sizes", "languages", "timezones", "events", "engagement", "segments",
        "third_parties", "drops", "retention",
    }  # fmt: skip
    assert panels["overview"]["rows"] == [
        ["2026-11-01", 3, 8, 4, 1.5],
        ["2026-11-02", 2, 3, 2, 1.5],
        ["2026-11-03", 1, 1, 0, None],
    ]
    assert panels["pages"]["rows"][0] == ["/", 4, 6]
    assert panels["drops"]["rows"][0][:2] == ["bot", 5]
    assert panels["third_parties"]["rows"][0][:4] == ["tracker.example", "script-src", "/", 7]
    assert set(body["ms"]) >= {"refresh", "overview", "pages", "total"}


def test_a_filtered_report_narrows_every_panel_but_the_site_wide_ones(app: Fixture) -> None:
    client = session_for(app, "ann")
    body = client.get("/dashboard/api/report", params=PERIOD | {"device_brand": "Samsung"}).json()
    assert body["filters"] == ["device_brand==Samsung"]
    assert body["panels"]["pages"]["rows"] == [["/", 1, 1], ["/pricing", 1, 1]]
    assert body["panels"]["devices"]["rows"] == [["smartphone", "Samsung", "SM-S911B", 1, 2]]
    assert body["panels"]["drops"]["rows"][0][:2] == ["bot", 5]  # not narrowed
    expressions = [*PERIOD.items(), ("filter", "device_brand!=Apple"), ("filter", "path~pric")]
    narrowed = client.get("/dashboard/api/report", params=expressions).json()
    assert narrowed["filters"] == ["device_brand!=Apple", "path~pric"]
    assert narrowed["panels"]["pages"]["rows"] == [["/", 1, 1], ["/pricing", 1, 1]]
    none = client.get("/dashboard/api/report", params=PERIOD | {"device_brand": "Nokia"}).json()
    assert none["suppressed"].startswith("no visitors match") and "pages" not in none["panels"]


def test_bad_report_parameters_get_a_400_naming_the_field(app: Fixture) -> None:
    client = session_for(app, "ann")
    for params, field in (
        ({"period": "1y"}, "period"),
        ({"period": "custom", "from": "yesterday"}, "from"),
        ({"period": "custom", "from": "2026-11-03", "to": "2026-11-01"}, "from"),
        ({"path": "x" * 301}, "filter"),
        ({"filter": "colour==red"}, "filter"),
    ):
        r = client.get("/dashboard/api/report", params={"site": SITE} | params)
        assert r.status_code == 400, params
        assert r.json()["field"] == field
    assert client.get("/dashboard/api/report", params={"site": "nope.example"}).json()["field"] == "site"


def test_static_files_are_served_with_etags_and_nothing_else_is(app: Fixture) -> None:
    r = httpx.get(f"{app.url}/dashboard/static/dashboard.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    again = httpx.get(f"{app.url}/dashboard/static/dashboard.css", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    for name in ("dashboard.html", "..%2Fusers.py", "nope.js"):
        assert httpx.get(f"{app.url}/dashboard/static/{name}").status_code == 404


def test_query_api_takes_filters_too(app: Fixture) -> None:
    headers = {"Authorization": f"Bearer {token(app, 'api-filter', ['stats:read'])}"}
    params = {"site": SITE, "from": "2026-11-01", "to": "2026-11-03", "device_brand": "Samsung"}
    r = httpx.get(f"{app.url}/api/query/pages", params=params, headers=headers)
    assert r.status_code == 200
    assert r.json()["rows"] == [["/", 1, 1], ["/pricing", 1, 1]]
    r = httpx.get(f"{app.url}/api/query/drops", params=params, headers=headers)
    assert r.status_code == 400 and r.json()["field"] == "filter"


def test_five_failed_logins_lock_that_account_for_a_while_but_not_others(app: Fixture) -> None:
    def attempt(user: str, password: str) -> httpx.Response:
        client = open_client(app.url)
        csrf = login_form(client)
        fields = {"csrf": csrf, "user": user, "password": password}
        return client.post("/dashboard/login", data=fields, headers={"Origin": app.url})

    for _ in range(sessions.Throttle.LIMIT):
        assert attempt("olaf", "wrong password!").status_code == 401
    locked = attempt("olaf", PASSWORD)
    assert locked.status_code == 429 and locked.headers["retry-after"] == "900"
    assert attempt("ann", PASSWORD).status_code == 303


def test_an_origin_of_null_counts_only_with_sec_fetch_site_same_origin(app: Fixture) -> None:
    # What Chromium sends for a form POST from a page under Referrer-Policy: no-referrer.
    client = open_client(app.url)
    fields = {"csrf": login_form(client), "user": "ann", "password": PASSWORD}
    assert client.post("/dashboard/login", data=fields, headers={"Origin": "null"}).status_code == 403
    same = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/dashboard/login", data=fields, headers=same).status_code == 303
