"""Profiles are kept current by the writer, in the same transaction as the events, for consented visitors only."""

from __future__ import annotations

import httpx

from tests.conftest import DESKTOP_UA, ORIGIN, LiveServer

PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)


def send(server: LiveServer, body: str, ua: str = DESKTOP_UA, **headers: str) -> None:
    base = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": ua} | headers
    r = httpx.post(f"{server.url}/api/event", content=body, headers=base)
    assert r.status_code == 202, r.text


def test_a_consented_visitor_gets_a_profile_kept_current_with_each_batch(server: LiveServer) -> None:
    first = (
        '{"d":"example.com","u":"https://example.com/shoes/red?utm_source=newsletter","id":"visitor-0001",'
        '"w":1440,"l":"en-US","tz":"Europe/Paris","r":"https://www.google.com/"}'
    )
    send(server, first)
    later = (
        '[{"d":"example.com","u":"https://example.com/shoes/blue?utm_source=facebook","id":"visitor-0001",'
        '"w":390,"l":"vi-VN","tz":"Asia/Ho_Chi_Minh"},'
        '{"d":"example.com","n":"signup","u":"https://example.com/account","id":"visitor-0001"},'
        '{"d":"example.com","u":"https://example.com/","id":"visitor-0001"}]'
    )
    send(server, later, ua=PHONE_UA)
    rows = server.query(
        "SELECT visits, days_active, pageviews, events, device_type, os_name, screen_class, language, timezone, "
        "first_utm_source, first_referrer_host, first_seen <= last_seen FROM profiles"
    )
    expected = (1, 1, 3, 1, "mobile", "iOS", "small", "vi-VN", "Asia/Ho_Chi_Minh", "newsletter", "google.com", True)
    assert rows == [expected]
    sections = server.query("SELECT section, pageviews, events FROM profile_sections ORDER BY section")
    assert sections == [("", 1, 0), ("account", 0, 1), ("shoes", 2, 0)]
    assert server.query("SELECT name, events FROM profile_events") == [("signup", 1)]
    hashes = server.query("SELECT DISTINCT e.visitor = p.visitor FROM events e, profiles p")
    assert hashes == [(True,)]


def test_cookieless_and_gpc_visitors_get_no_profile(server: LiveServer) -> None:
    send(server, '{"d":"example.com","u":"https://example.com/a"}')
    send(server, '{"d":"example.com","u":"https://example.com/a","id":"visitor-0002"}', **{"Sec-GPC": "1"})
    send(server, '{"d":"example.com","u":"https://example.com/a","id":"visitor-0003","gpc":true}')
    assert server.query("SELECT count(*) FROM events") == [(3,)]
    assert server.query("SELECT count(*) FROM profiles") == [(0,)]
    assert server.query("SELECT count(*) FROM profile_sections") == [(0,)]
