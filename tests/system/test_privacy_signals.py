"""Promises of PRIVACY.md that the spine implements: GPC/DNT, no cookies, daily salts, the key file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from collector.settings import Site
from tests.conftest import DESKTOP_UA, ORIGIN, LiveServer, make_settings

EVENT = '{"d":"example.com","u":"https://example.com/a","id":"consented_Abc12345","ch":{"model":"Pixel 8"}}'


def post(server: LiveServer, **headers: str) -> httpx.Response:
    base = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA}
    return httpx.post(f"{server.url}/api/event", content=EVENT, headers=base | headers)


@pytest.mark.parametrize("header", [{"Sec-GPC": "1"}, {"DNT": "1"}], ids=["gpc", "dnt"])
def test_gpc_and_dnt_events_are_kept_only_in_anonymous_form(server: LiveServer, header: dict[str, str]) -> None:
    assert post(server, **header).status_code == 202
    assert server.query("SELECT visitor, consented, anonymous, path FROM events") == [(None, False, True, "/a")]


def test_the_snippets_gpc_mark_is_honoured_too(server: LiveServer) -> None:
    body = EVENT.replace('"ch"', '"gpc":true,"ch"')
    headers = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA}
    assert httpx.post(f"{server.url}/api/event", content=body, headers=headers).status_code == 202
    assert server.query("SELECT visitor, anonymous FROM events") == [(None, True)]


def test_a_site_can_drop_gpc_events_entirely(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings = replace(settings, sites=(Site("example.com", (ORIGIN,), gpc_mode="drop"),))
    server = LiveServer(settings).start()
    try:
        assert post(server, **{"Sec-GPC": "1"}).status_code == 202
        assert server.query("SELECT count(*) FROM events") == [(0,)]
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # a commit, which flushes drop counts
        assert server.query("SELECT reason, events FROM drops") == [("privacy_signal", 1)]
    finally:
        server.stop()


def test_the_collector_never_sets_cookies(server: LiveServer) -> None:
    responses = [
        post(server),
        httpx.get(f"{server.url}/"),
        httpx.get(f"{server.url}/js/collector.js"),
        httpx.options(f"{server.url}/api/event", headers={"Origin": ORIGIN}),
        httpx.post(
            f"{server.url}/api/privacy/export",
            json={"d": "example.com", "id": "consented_Abc12345"},
            headers={"Origin": ORIGIN},
        ),
    ]
    assert [r.status_code for r in responses] == [202, 200, 200, 204, 200]
    assert [r.headers.get_list("set-cookie") for r in responses] == [[]] * 5


def test_events_from_unregistered_origins_are_refused(server: LiveServer) -> None:
    r = post(server, Origin="https://evil.example")
    assert r.status_code == 403 and r.json()["field"] == "origin"
    assert "access-control-allow-origin" not in r.headers
    assert server.query("SELECT count(*) FROM events") == [(0,)]
