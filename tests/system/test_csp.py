from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson

from collector.stats import queries
from collector.storage import store
from tests.conftest import ORIGIN, SITE, LiveServer


def legacy(document: str, blocked: str, directive: str = "script-src-elem") -> bytes:
    report = {"document-uri": document, "blocked-uri": blocked, "effective-directive": directive}
    return orjson.dumps({"csp-report": report})


def reporting_api(*items: tuple[str, str]) -> bytes:
    return orjson.dumps(
        [
            {
                "type": "csp-violation",
                "age": 1,
                "url": doc,
                "body": {"documentURL": doc, "blockedURL": blocked, "effectiveDirective": "img-src"},
            }
            for doc, blocked in items
        ]
    )


def report(server: LiveServer, body: bytes, content_type: str, query: str = "?site=example.com") -> httpx.Response:
    return httpx.post(f"{server.url}/api/csp-report{query}", content=body, headers={"Content-Type": content_type})


def test_blocked_third_party_hosts_are_counted_per_site_and_page(server: LiveServer) -> None:
    doc = "https://example.com/checkout?email=jane@x.com"
    assert (
        report(
            server, legacy(doc, "https://connect.facebook.net/en_US/fbevents.js"), "application/csp-report"
        ).status_code
        == 204
    )
    assert (
        report(server, legacy(doc, "https://connect.facebook.net/signals"), "application/csp-report").status_code == 204
    )
    body = reporting_api(
        ("https://www.example.com/users/jane%40x.com", "https://www.google-analytics.com/g/collect?v=2"),
        ("https://example.com/", "https://cdn.example.com/app.js"),  # a subdomain is first party
        ("https://example.com/", "inline"),  # not a host
        ("https://evil.example/", "https://tracker.example/x.js"),  # not the site's page
    )
    r = report(server, body, "application/reports+json", query="")
    assert r.status_code == 204, r.text
    rows = server.query(
        "SELECT page, host, directive, reports FROM third_parties WHERE site = 'example.com' ORDER BY ALL"
    )
    assert rows == [
        ("/checkout", "connect.facebook.net", "script-src-elem", 2),
        ("/users/[email]", "www.google-analytics.com", "img-src", 1),
    ]


def test_bad_reports_get_clear_errors(server: LiveServer) -> None:
    r = report(server, b"{", "application/csp-report")
    assert r.status_code == 400 and r.json()["field"] == "body"
    r = report(server, legacy("https://example.com/", "https://t.example/"), "text/html")
    assert r.status_code == 415
    r = report(server, legacy("https://example.com/", "https://t.example/"), "application/csp-report", "?site=nope.org")
    assert r.status_code == 403 and r.json()["field"] == "site"
    r = report(server, b'{"csp-report": {"document-uri": 5}}', "application/csp-report")
    assert r.status_code == 400
    r = httpx.options(f"{server.url}/api/csp-report", headers={"Origin": ORIGIN})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == ORIGIN


def test_third_parties_named_query_lists_hosts_that_tried_to_load(server: LiveServer) -> None:
    for _ in range(5):  # the site's k-anonymity threshold: hosts seen fewer times are folded into (other)
        report(
            server, legacy("https://example.com/a", "https://px.ads.example/p.gif", "img-src"), "application/csp-report"
        )
    report(server, legacy("https://example.com/b", "https://rare.example/x.js"), "application/csp-report")
    assert server.live.runtime is not None
    today = datetime.now(UTC).date().isoformat()
    cur = store.cursor(server.live.runtime.con)
    try:
        result = queries.run(cur, server.settings, "third_parties", {"site": SITE, "from": today, "to": today})
    finally:
        cur.close()
    assert [row[:4] for row in result.rows] == [["px.ads.example", "img-src", "/a", 5], ["(other)", None, None, 1]]
