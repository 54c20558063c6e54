from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collector.access.auth import create_token
from collector.access.guard import INVALID_TOKEN, require
from collector.admin import channel as admin
from collector.settings import Settings
from collector.storage import store
from tests.conftest import SITE, LiveServer


async def site_stats(request: Request) -> Response:
    """A handler shaped like the feature endpoints: one scope, one site, a target hash."""
    site = request.query_params.get("site")
    principal = await require(request, "stats:read", site, target="h:abc123")
    return JSONResponse({"token": principal.name, "site": site})


@pytest.fixture
def api(settings: Settings) -> Iterator[LiveServer]:
    live = LiveServer(settings)
    live.app.router.routes.append(Route("/test/stats", site_stats, methods=["GET"]))
    live.start()
    try:
        yield live
    finally:
        live.stop()


def make_token(server: LiveServer, name: str, scopes: list[str], sites: list[str] | None = None) -> str:
    assert server.live.runtime is not None
    cur = store.cursor(server.live.runtime.con)
    try:
        return create_token(cur, name, scopes, sites)[1]
    finally:
        cur.close()


def get(server: LiveServer, token: str | None, site: str = SITE) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}/test/stats", params={"site": site}, headers=headers)


def audit_rows(server: LiveServer) -> list[tuple[object, ...]]:
    return server.query("SELECT token_name, action, site, target, outcome FROM audit_log ORDER BY ts")


def test_no_token_is_401_with_a_json_error_and_no_audit_row(api: LiveServer) -> None:
    r = get(api, None)
    assert r.status_code == 401
    assert r.json() == {"error": "an API token is required (Authorization: Bearer ...)", "field": None}
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert audit_rows(api) == []


@pytest.mark.parametrize("token", ["col_000000000000_nope", "not-a-token", "col_", "col_a_b_c"])
def test_bad_token_is_401_and_audited_without_the_token(api: LiveServer, token: str) -> None:
    r = get(api, token)
    assert r.status_code == 401
    assert r.json()["error"] == "the API token is not valid"
    assert audit_rows(api) == [(INVALID_TOKEN, "GET /test/stats", SITE, "h:abc123", "denied 401")]


def test_right_id_with_a_wrong_secret_is_401(api: LiveServer) -> None:
    token = make_token(api, "crm", ["stats:read"])
    prefix, token_id, secret = token.split("_", 2)
    assert get(api, f"{prefix}_{token_id}_{secret[:-1]}x").status_code == 401
    assert get(api, token).status_code == 200


def test_token_without_the_scope_is_403_and_audited_by_name(api: LiveServer) -> None:
    token = make_token(api, "personalizer", ["segments:read"])
    r = get(api, token)
    assert r.status_code == 403
    assert r.json() == {"error": f"this token lacks the stats:read scope for site {SITE}", "field": None}
    assert audit_rows(api) == [("personalizer", "GET /test/stats", SITE, "h:abc123", "denied 403")]


def test_site_limited_token_reads_its_site_only(api: LiveServer) -> None:
    token = make_token(api, "shop-stats", ["stats:read"], [SITE])
    assert get(api, token, SITE).json() == {"token": "shop-stats", "site": SITE}
    assert get(api, token, "other.org").status_code == 403
    assert [row[-1] for row in audit_rows(api)] == ["allowed", "denied 403"]


def test_admin_token_may_do_everything(api: LiveServer) -> None:
    token = make_token(api, "ops", ["admin"])
    assert get(api, token, "other.org").status_code == 200
    assert httpx.get(f"{api.url}/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_token_created_and_revoked_through_the_admin_socket_takes_effect_at_once(api: LiveServer) -> None:
    created = admin.call(api.settings, "token.create", {"name": "crm", "scopes": ["stats:read"]})
    assert get(api, created["token"]).status_code == 200
    admin.call(api.settings, "token.revoke", {"token": "crm"})
    assert get(api, created["token"]).status_code == 401
    outcomes = [(row[0], row[1], row[4]) for row in audit_rows(api)]
    assert outcomes == [
        ("(local admin)", "token.create", "ok"),
        ("crm", "GET /test/stats", "allowed"),
        ("(local admin)", "token.revoke", "ok"),
        (INVALID_TOKEN, "GET /test/stats", "denied 401"),
    ]


def test_only_a_hash_of_the_token_is_stored(api: LiveServer) -> None:
    token = make_token(api, "crm", ["stats:read"])
    secret = token.split("_", 2)[2]
    stored = api.query("SELECT secret_hash FROM tokens")
    assert len(stored) == 1 and secret.encode() not in bytes(stored[0][0])
    dump = repr(api.query("SELECT * FROM tokens")) + repr(api.query("SELECT * FROM audit_log"))
    assert secret not in dump
