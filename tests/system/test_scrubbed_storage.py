"""Scrubbing through a live server: what is stored holds no identifier, and each scrub is counted per site."""

from __future__ import annotations

import httpx

from tests.conftest import DESKTOP_UA, ORIGIN, LiveServer


def post(server: LiveServer, body: str) -> httpx.Response:
    headers = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA}
    return httpx.post(f"{server.url}/api/event", content=body, headers=headers)


def test_stored_event_is_scrubbed_and_scrubbing_is_counted_per_site(server: LiveServer) -> None:
    body = (
        '{"d":"example.com","n":"signup","u":"https://example.com/users/jane%40x.com?email=jane@x.com'
        '&utm_content=jane@x.com&utm_source=mail&gclid=abc&fbclid=def",'
        '"p":{"contact":"+84 912 345 678","plan":"pro","who":"jane@x.com"}}'
    )
    assert post(server, body).status_code == 202
    rows = server.query("SELECT path, utm_content, utm_source, props::VARCHAR FROM events")
    assert rows == [("/users/[email]", "[email]", "mail", '{"contact":"[phone]","plan":"pro","who":"[email]"}')]
    counts = server.query("SELECT kind, field, hits FROM scrubbed WHERE site = 'example.com' ORDER BY ALL")
    assert counts == [
        ("click_id", "fbclid", 1),
        ("click_id", "gclid", 1),
        ("email", "path", 1),
        ("email", "props", 1),
        ("email", "utm", 1),
        ("phone", "props", 1),
    ]
