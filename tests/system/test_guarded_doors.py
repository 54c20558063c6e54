"""What the public doors refuse: pages on another host, floods of CSP reports, and 401s without a challenge."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import orjson
import pytest

from collector.admin import channel as admin
from tests.conftest import DESKTOP_UA, ORIGIN, SITE, LiveServer, make_settings

CLIENT_PER_MINUTE = 5
SITE_PER_MINUTE = 12
MAX_CSP_BODY = 2048


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("doors"),
        csp_reports_client_per_minute=CLIENT_PER_MINUTE,
        csp_reports_site_per_minute=SITE_PER_MINUTE,
        csp_max_body_bytes=MAX_CSP_BODY,
    )
    live = LiveServer(settings).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def admin_token(server: LiveServer) -> str:
    created = admin.call(server.settings, "token.create", {"name": "ops", "scopes": ["admin"]})
    return str(created["token"])


def metric(server: LiveServer, token: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"}).text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def send(server: LiveServer, url: str) -> httpx.Response:
    headers = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA}
    return httpx.post(f"{server.url}/api/event", content=orjson.dumps({"d": SITE, "u": url}), headers=headers)


def test_a_page_on_another_host_is_dropped_as_foreign_and_counted(server: LiveServer, admin_token: str) -> None:
    assert send(server, "https://evil.example/forged-page").status_code == 202
    assert send(server, "https://blog.example.com/kept").status_code == 202
    assert send(server, "https://www.example.com/also-kept").status_code == 202
    assert server.query("SELECT path FROM events ORDER BY path") == [("/also-kept",), ("/kept",)]
    assert server.query("SELECT reason, events FROM drops") == [("foreign_page", 1)]
    assert metric(server, admin_token, "collector_events_dropped_total", site=SITE, reason="foreign_page") == 1


def csp(server: LiveServer, user_agent: str, body: bytes | None = None) -> httpx.Response:
    report = {"document-uri": "https://example.com/", "blocked-uri": "https://tracker.example/t.js"}
    return httpx.post(
        f"{server.url}/api/csp-report?site={SITE}",
        content=body if body is not None else orjson.dumps({"csp-report": report}),
        headers={"Content-Type": "application/csp-report", "User-Agent": user_agent},
    )


def test_csp_reports_are_limited_per_client_and_per_site_capped_in_size_and_counted(
    server: LiveServer, admin_token: str
) -> None:
    answers = [csp(server, "client-a").status_code for _ in range(CLIENT_PER_MINUTE + 3)]
    assert answers == [204] * CLIENT_PER_MINUTE + [429] * 3
    r = csp(server, "client-a")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json() == {
        "error": f"this client sends too many CSP reports; retry after {r.headers['retry-after']} s",
        "field": None,
    }
    # Other clients still get through, until the site's own bucket is empty.
    site_left = SITE_PER_MINUTE - CLIENT_PER_MINUTE
    answers = [csp(server, f"client-{i}").status_code for i in range(site_left + 2)]
    assert answers == [204] * site_left + [429] * 2
    assert "site example.com receives too many CSP reports" in csp(server, "client-z").json()["error"]
    r = csp(server, "client-big", b'{"csp-report": {"document-uri": "' + b"x" * MAX_CSP_BODY + b'"}}')
    assert r.status_code == 413 and r.json()["field"] == "body"
    rows = server.query("SELECT sum(reports) FROM third_parties WHERE site = ?", [SITE])
    assert rows == [(SITE_PER_MINUTE,)], "only the reports let through are counted"
    refused = {
        reason: metric(server, admin_token, "collector_csp_reports_refused_total", reason=reason)
        for reason in ("client", "site", "size", "invalid")
    }
    assert refused == {"client": 4, "site": 3, "size": 1, "invalid": 0}


def login_form(client: httpx.Client) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/dashboard/login").text)
    assert found
    return found.group(1)


def test_every_401_carries_a_bearer_challenge(server: LiveServer) -> None:
    bad = {"Authorization": "Bearer col_000000000000_nope"}
    answers = {
        "metrics without token": httpx.get(f"{server.url}/metrics"),
        "metrics with a bad token": httpx.get(f"{server.url}/metrics", headers=bad),
        "named query": httpx.get(f"{server.url}/api/query/pages", headers=bad),
        "segments": httpx.get(f"{server.url}/api/segments?visitor=visitor-0001"),
        "erase with a bad token": httpx.post(
            f"{server.url}/api/privacy/erase", json={"site": SITE, "account": "a@example.com"}, headers=bad
        ),
        "dashboard data without a session": httpx.get(f"{server.url}/dashboard/api/report"),
        "ingest from a server with a bad token": httpx.post(
            f"{server.url}/api/event", content=orjson.dumps({"d": SITE, "u": "https://example.com/"}), headers=bad
        ),
    }
    with httpx.Client(base_url=server.url) as client:
        csrf = login_form(client)
        answers["dashboard login that fails"] = client.post(
            "/dashboard/login",
            data={"csrf": csrf, "user": "nobody", "password": "wrong password!"},
            headers={"Origin": server.url},
        )
    statuses = {name: r.status_code for name, r in answers.items()}
    assert set(statuses.values()) == {401}, statuses
    challenges = {name: r.headers.get("www-authenticate") for name, r in answers.items()}
    assert {n: c for n, c in challenges.items() if c != 'Bearer realm="collector"'} == {}
