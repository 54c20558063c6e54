"""Rate limits through a live server: 429 with Retry-After for a flooding client or site, nothing for normal use."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import orjson

from tests.conftest import DESKTOP_UA, ORIGIN, SITE, LiveServer, make_settings


def post(server: LiveServer, events: int = 1, ua: str = DESKTOP_UA) -> httpx.Response:
    event = {"d": SITE, "u": "https://example.com/"}
    body = orjson.dumps([event] * events if events > 1 else event)
    headers = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": ua}
    return httpx.post(f"{server.url}/api/event", content=body, headers=headers)


def test_flooding_client_gets_429_with_retry_after_and_others_are_not_affected(tmp_path: Path) -> None:
    settings = replace(make_settings(tmp_path), rate_limit_client_per_second=0.2, rate_limit_client_burst=3)
    server = LiveServer(settings).start()
    try:
        assert [post(server).status_code for _ in range(3)] == [202, 202, 202]
        refused = post(server)
        assert refused.status_code == 429
        # One token every 5 s: 5 s from the first request, less if the first three took a second (a loaded machine).
        wait = refused.headers["retry-after"]
        assert wait in ("4", "5")
        assert refused.headers["access-control-allow-origin"] == ORIGIN, "the browser may read the answer"
        assert refused.json() == {"error": f"this client sends too many events; retry after {wait} s", "field": None}
        assert post(server, ua=DESKTOP_UA.replace("124", "125")).status_code == 202
        assert server.query("SELECT count(*) FROM events") == [(4,)]
        assert server.live.ingest is not None
        assert server.live.ingest.tally.limited == {("client", ""): 1}
    finally:
        server.stop()


def test_site_limit_counts_events_not_requests(tmp_path: Path) -> None:
    settings = replace(
        make_settings(tmp_path),
        rate_limit_site_per_second=1,
        rate_limit_site_burst=10,
        rate_limit_client_per_second=0,
    )
    server = LiveServer(settings).start()
    try:
        assert post(server, events=6).status_code == 202
        refused = post(server, events=6)
        assert refused.status_code == 429
        assert refused.json()["error"] == f"site {SITE} receives too many events; retry after 2 s"
        assert post(server, events=4).status_code == 202
        assert server.query("SELECT count(*) FROM events") == [(10,)]
    finally:
        server.stop()


def test_default_limits_let_a_normal_browsing_session_through(server: LiveServer) -> None:
    # A busy visitor: 60 page views and events in a burst, far more than a person clicks.
    assert {post(server).status_code for _ in range(60)} == {202}
