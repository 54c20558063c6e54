from __future__ import annotations

import httpx

from tests.conftest import DESKTOP_UA, ORIGIN, SITE, LiveServer


def post(server: LiveServer, body: bytes | str, **headers: str) -> httpx.Response:
    base = {"Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8", "User-Agent": DESKTOP_UA}
    base.update({k.replace("_", "-"): v for k, v in headers.items()})
    return httpx.post(f"{server.url}/api/event", content=body, headers=base)


def test_pageview_is_stored(server: LiveServer) -> None:
    r = post(server, '{"d":"example.com","u":"https://example.com/a?utm_source=news&gclid=x","w":390,"h":844}')
    assert r.status_code == 202, r.text
    assert r.headers["access-control-allow-origin"] == ORIGIN
    rows = server.query("SELECT site, name, path, utm_source, screen_w, visitor IS NOT NULL FROM events")
    assert rows == [(SITE, "pageview", "/a", "news", 390, True)]
