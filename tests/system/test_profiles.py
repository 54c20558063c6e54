"""Profiles are kept current by the writer, in the same transaction as the events, for consented visitors only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx

from collector.events import Event, Request
from collector.segments.profiles import update_profiles
from collector.storage import store
from collector.storage.batches import rows_to_table, to_row
from tests.conftest import DESKTOP_UA, ORIGIN, SITE, LiveServer

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


def event(ts: datetime, path: str = "/", name: str = "pageview", visitor: int = 7) -> Event:
    request = Request(ip="192.0.2.1", user_agent="x", hints={}, gpc=False, prefetch=False)
    return Event(
        site=SITE, name=name, url=f"https://example.com{path}", referrer=None, screen_w=None, screen_h=None,
        language=None, timezone=None, client_hints={}, raw_id=None, props={}, webdriver=False, client_gpc=False,
        ts=ts, request=request, event_id="00000000-0000-0000-0000-000000000000", path=path, visitor=visitor,
        consented=True,
    )  # fmt: skip


def load(con: duckdb.DuckDBPyConnection, events: list[Event]) -> None:
    """What the writer's loader does: the batch as `_batch`, the hook inside the transaction."""
    con.register("_batch", rows_to_table([to_row(e) for e in events]))
    try:
        update_profiles(con)
    finally:
        con.unregister("_batch")


def test_visits_and_days_merge_across_batches(tmp_path: Path) -> None:
    con = store.open_database(tmp_path / "p.duckdb", None)
    store.migrate(con)
    t0 = datetime(2026, 3, 14, 23, 40, tzinfo=UTC)
    load(con, [event(t0), event(t0 + timedelta(minutes=10))])  # one visit, one day
    load(con, [event(t0 + timedelta(minutes=35))])  # same visit (25 min gap), next day
    load(con, [event(t0 + timedelta(hours=2)), event(t0 + timedelta(hours=3), "/X/y", "buy")])  # 2 more visits
    assert con.execute("SELECT visits, days_active, pageviews, events FROM profiles").fetchall() == [(3, 2, 4, 1)]
    sections = con.execute("SELECT day::VARCHAR, section, pageviews, events FROM profile_sections ORDER BY ALL")
    assert sections.fetchall() == [("2026-03-14", "", 2, 0), ("2026-03-15", "", 2, 0), ("2026-03-15", "x", 0, 1)]
    assert con.execute("SELECT name, events FROM profile_events").fetchall() == [("buy", 1)]
    con.close()
