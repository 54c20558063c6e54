from __future__ import annotations

from datetime import UTC, datetime

import httpx

from collector.access import auth
from collector.storage import store
from tests.conftest import DESKTOP_UA, ORIGIN, SITE, LiveServer


def visit(server: LiveServer, path: str, visitor: int) -> None:
    body = f'{{"d":"{SITE}","u":"https://example.com{path}","w":390,"h":844}}'
    headers = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": f"{DESKTOP_UA} v{visitor}"}
    assert httpx.post(f"{server.url}/api/event", content=body, headers=headers).status_code == 202


def token(server: LiveServer, scopes: list[str], sites: list[str] | None = None) -> str:
    assert server.live.runtime is not None
    cur = store.cursor(server.live.runtime.con)
    try:
        return auth.create_token(cur, "marketing", scopes, sites)[1]
    finally:
        cur.close()


def get(server: LiveServer, path: str, secret: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return httpx.get(f"{server.url}{path}", headers=headers)


def test_a_stats_token_reads_a_query_as_json_with_k_anonymity(server: LiveServer) -> None:
    for v in range(5):
        visit(server, "/a", v)
    visit(server, "/b", 9)
    secret = token(server, ["stats:read"], [SITE])
    r = get(server, f"/api/query/pages?site={SITE}", secret)
    assert r.status_code == 200, r.text
    body = r.json()
    today = datetime.now(UTC).date()
    assert body["query"] == "pages"
    assert body["params"]["to"] == today.isoformat()
    assert body["columns"] == ["path", "visitors", "pageviews"]
    assert body["rows"] == [["/a", 5, 5], ["(other)", 1, 1]]  # example.com keeps the default k = 5
    visit(server, "/b", 10)
    assert get(server, f"/api/query/pages?site={SITE}&limit=1", secret).json()["rows"] == [["/a", 5, 5]]
    overview = get(server, f"/api/query/overview?site={SITE}&from={today}&to={today}", secret).json()
    assert overview["rows"] == [[today.isoformat(), 7, 7, 7, 1.0]]
    audit = server.query("SELECT token_name, action, site, outcome FROM audit_log ORDER BY ts")
    assert audit[0] == ("marketing", "query:pages", SITE, "ok: 2 rows")
    assert len(audit) == 3
    filtered = get(server, f"/api/query/pages?site={SITE}&filter=path~/A&filter=path!%3D/b", secret).json()
    assert filtered["rows"] == [["/a", 5, 5]] and filtered["params"]["filters"] == ["path~/A", "path!=/b"]


def test_the_query_api_refuses_without_the_right_token(server: LiveServer) -> None:
    assert get(server, f"/api/query/pages?site={SITE}", None).status_code == 401
    assert get(server, f"/api/query/pages?site={SITE}", "col_nope_nope").status_code == 401
    wrong_scope = token(server, ["segments:read"])
    r = get(server, f"/api/query/pages?site={SITE}", wrong_scope)
    assert r.status_code == 403
    assert r.json()["error"].startswith("this token lacks the stats:read scope")
    other_site = token(server, ["stats:read"], ["other.org"])
    assert get(server, f"/api/query/pages?site={SITE}", other_site).status_code == 403
    outcomes = server.query("SELECT outcome FROM audit_log ORDER BY ts")
    assert outcomes == [("denied",), ("denied",)]


def test_bad_requests_get_a_4xx_with_the_field(server: LiveServer) -> None:
    secret = token(server, ["stats:read"])
    cases = {
        f"/api/query/nope?site={SITE}": (404, "name"),
        "/api/query/pages": (400, "site"),
        "/api/query/pages?site=unknown.example": (400, "site"),
        f"/api/query/pages?site={SITE}&from=yesterday": (400, "from"),
        f"/api/query/pages?site={SITE}&k=1": (400, "k"),
        f"/api/query/screens?site={SITE}&by=colour": (400, "by"),
        f"/api/query/pages?site={SITE}&filter=colour==red": (400, "filter"),
        f"/api/query/pages?site={SITE}&filter=path%3D/": (400, "filter"),
        f"/api/query/drops?site={SITE}&filter=path~/": (400, "filter"),
        f"/api/query/funnel?site={SITE}&steps=/": (400, "steps"),
    }
    for path, (status, field) in cases.items():
        r = get(server, path, secret)
        assert (r.status_code, r.json()["field"]) == (status, field), path
