"""The Plausible, Umami and Matomo doors on a real server: who may send, what each answers, what is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from collector.access.auth import create_token
from collector.settings import Site
from collector.stats.queries import run
from collector.storage import store
from tests.conftest import DESKTOP_UA, ORIGIN, SITE, LiveServer, make_settings

UMAMI_ID = "5c7a1f0e-6d2b-4c44-9a51-2f0e0c1d7b90"
SERVER_SITE = "api.example.net"  # a site whose backend sends without Origin
ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/124.0.0.0 Mobile Safari/537.36"
)
BROWSER = {"Origin": ORIGIN, "User-Agent": DESKTOP_UA}
TRACKER = {**BROWSER, "Content-Type": "text/plain"}  # what Plausible's tracker sends
ROW = (
    "SELECT name, path, screen_w, screen_h, language, device_type, consented, props"
    " FROM events WHERE path = ? ORDER BY ts"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path_factory.mktemp("doors"), encrypt=False)  # plain, for the byte scan
    sites = (
        replace(settings.sites[0], umami_website_id=UMAMI_ID, matomo_site_id=3),
        Site(domain="other.org", origins=("https://other.org",), matomo_site_id=7, ids_after_consent=True),
        Site(domain=SERVER_SITE, origins=("https://api.example.net",), server_side=True, k_anonymity=1),
    )
    live = LiveServer(replace(settings, sites=sites)).start()
    yield live
    live.stop()


def token(server: LiveServer, scopes: list[str], sites: list[str] | None = None) -> str:
    assert server.live.runtime is not None
    cur = store.cursor(server.live.runtime.con)
    try:
        return create_token(cur, f"t{len(scopes)}{sites}", scopes, sites)[1]
    finally:
        cur.close()


def rows(server: LiveServer, path: str) -> list[tuple[Any, ...]]:
    return server.query(ROW, [path])


def test_plausible_tracker_payload_on_api_event_is_stored_as_a_page_view_and_an_event(server: LiveServer) -> None:
    page = {"n": "pageview", "v": 36, "u": f"{ORIGIN}/pl/home?gclid=abc", "d": SITE, "r": None, "i": False}
    signup = {"n": "Signup", "v": 36, "u": f"{ORIGIN}/pl/home", "d": SITE, "p": {"tier": "pro", "seats": 3}}
    for body in (page, signup):
        answer = httpx.post(f"{server.url}/api/event", content=json.dumps(body), headers=TRACKER)
        assert answer.status_code == 202, answer.text
    assert rows(server, "/pl/home") == [
        ("pageview", "/pl/home", None, None, None, "desktop", False, None),
        ("Signup", "/pl/home", None, None, None, "desktop", False, '{"tier":"pro","seats":"3"}'),
    ]


def test_plausible_hash_routing_takes_the_route_from_the_fragment_and_h_is_no_screen_height(
    server: LiveServer,
) -> None:
    body = {"n": "pageview", "v": 36, "u": f"{ORIGIN}/app/#/pl/cart", "d": SITE, "h": 1}
    assert httpx.post(f"{server.url}/api/event", content=json.dumps(body), headers=TRACKER).status_code == 202
    assert rows(server, "/app/pl/cart") == [("pageview", "/app/pl/cart", None, None, None, "desktop", False, None)]


def test_plausible_engagement_becomes_engagement_figures_not_an_event(server: LiveServer) -> None:
    for depth, engaged in ((80, 4000), (40, 2000)):
        body = {"n": "engagement", "v": 36, "u": f"{ORIGIN}/pl/read", "d": SITE, "sd": depth, "e": engaged, "p": {}}
        assert httpx.post(f"{server.url}/api/event", content=json.dumps(body), headers=TRACKER).status_code == 202
    assert rows(server, "/pl/read") == []
    stored = server.query("SELECT path, scroll_depth, engaged_ms FROM engagement WHERE path = '/pl/read' ORDER BY 2")
    assert stored == [("/pl/read", 40, 2000), ("/pl/read", 80, 4000)]
    assert server.live.runtime is not None
    cur = store.cursor(server.live.runtime.con)
    try:
        result = run(cur, replace(server.settings, sites=(replace(server.settings.sites[0], k_anonymity=1),)),
                     "engagement", {"site": SITE}).as_json()  # fmt: skip
    finally:
        cur.close()
    assert result["columns"] == ["path", "reports", "avg_scroll_depth", "avg_engaged_seconds"]
    assert ["/pl/read", 2, 60.0, 3.0] in result["rows"]


def test_plausible_events_api_without_origin_needs_a_server_side_site_or_an_ingest_token(server: LiveServer) -> None:
    def send(domain: str, path: str, headers: dict[str, str]) -> httpx.Response:
        body = {"name": "pageview", "url": f"https://{domain}{path}", "domain": domain}
        return httpx.post(f"{server.url}/api/event", json=body, headers={"User-Agent": DESKTOP_UA, **headers})

    refused = send(SITE, "/pl/server", {})
    assert refused.status_code == 403 and "server_side" in refused.json()["error"]
    assert send(SERVER_SITE, "/pl/server", {}).status_code == 202
    assert send(SITE, "/pl/server", {"Authorization": f"Bearer {token(server, ['ingest'], [SITE])}"}).status_code == 202
    wrong = send(SITE, "/pl/server", {"Authorization": f"Bearer {token(server, ['stats:read'])}"})
    assert wrong.status_code == 403 and "ingest" in wrong.json()["error"]
    assert send(SITE, "/pl/server", {"Referer": "https://evil.example/x"}).status_code == 403
    assert send(SITE, "/pl/server", {"Referer": f"{ORIGIN}/from"}).status_code == 202, "a Referer stands for Origin"
    assert len(rows(server, "/pl/server")) == 3
    assert server.query("SELECT count(*) FROM events WHERE site = ?", [SERVER_SITE]) == [(1,)]


def test_umami_send_answers_200_json_and_stores_screen_language_and_data(server: LiveServer) -> None:
    payload = {
        "website": UMAMI_ID, "hostname": "example.com", "url": "/um/pricing?utm_source=news", "screen": "1920x1080",
        "language": "de-DE", "title": "Pricing", "referrer": "", "name": "Signup", "data": {"plan": "team", "deep": {}},
    }  # fmt: skip
    answer = httpx.post(f"{server.url}/api/send", json={"type": "event", "payload": payload}, headers=BROWSER)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json", answer.text
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    identify = {"type": "identify", "payload": {"website": UMAMI_ID, "data": {"email": "a@b.c"}}}
    assert httpx.post(f"{server.url}/api/send", json=identify, headers=BROWSER).status_code == 200
    assert rows(server, "/um/pricing") == [
        ("Signup", "/um/pricing", 1920, 1080, "de-DE", "desktop", False, '{"plan":"team"}')
    ]
    unknown = httpx.post(f"{server.url}/api/send", json={"payload": {**payload, "website": "x"}}, headers=BROWSER)
    assert unknown.status_code == 403 and "umami_website_id" in unknown.json()["error"]
    assert httpx.post(f"{server.url}/api/send", json=[1], headers=BROWSER).status_code == 400


def test_matomo_get_answers_a_gif_or_204_and_maps_res_lang_and_events(server: LiveServer) -> None:
    query = {"idsite": 3, "rec": 1, "url": f"{ORIGIN}/ma/a", "res": "390x844", "lang": "fr-FR,fr;q=0.9",
             "action_name": "A", "_id": "0123456789abcdef"}  # fmt: skip
    gif = httpx.get(
        f"{server.url}/matomo.php?{urlencode(query)}", headers={"Referer": f"{ORIGIN}/ma/a", "User-Agent": DESKTOP_UA}
    )
    assert gif.status_code == 200 and gif.headers["content-type"] == "image/gif" and gif.content.startswith(b"GIF89a")
    event = {**query, "e_c": "Video", "e_a": "Play", "e_n": "intro", "e_v": "3", "send_image": 0}
    assert httpx.get(f"{server.url}/piwik.php?{urlencode(event)}", headers=BROWSER).status_code == 204
    ping = {**query, "ping": 1}
    assert httpx.get(f"{server.url}/matomo.php?{urlencode(ping)}", headers=BROWSER).status_code == 200
    assert rows(server, "/ma/a") == [
        ("pageview", "/ma/a", 390, 844, "fr-FR", "desktop", False, None),
        ("Video", "/ma/a", 390, 844, "fr-FR", "desktop", False,
         '{"category":"Video","action":"Play","name":"intro","value":"3"}'),
    ]  # fmt: skip


def test_matomo_without_origin_or_referer_needs_a_token_which_may_give_ua_and_cip(server: LiveServer) -> None:
    query = {"idsite": 3, "rec": 1, "url": f"{ORIGIN}/ma/server", "ua": ANDROID_UA, "cip": "203.0.113.9"}
    refused = httpx.get(f"{server.url}/matomo.php?{urlencode(query)}")
    assert refused.status_code == 403
    secret = token(server, ["ingest"])
    bulk = {"requests": ["?" + urlencode(query), "?" + urlencode({**query, "e_c": "Cart", "e_a": "Add"})],
            "token_auth": secret}  # fmt: skip
    answer = httpx.post(f"{server.url}/matomo.php", json=bulk)
    assert answer.status_code == 200 and answer.json() == {"status": "success", "tracked": 2, "invalid": 0}
    stored = server.query("SELECT name, device_type, device_brand FROM events WHERE path = '/ma/server' ORDER BY name")
    assert stored == [("Cart", "mobile", "Samsung"), ("pageview", "mobile", "Samsung")], "ua serves devices"
    visitors = server.query("SELECT count(DISTINCT visitor) FROM events WHERE path = '/ma/server'")
    assert visitors == [(1,)]


def test_matomo_ids_become_visitor_ids_only_for_a_site_that_sends_them_after_consent(server: LiveServer) -> None:
    for idsite, origin in ((3, ORIGIN), (7, "https://other.org")):
        query = {"idsite": idsite, "rec": 1, "url": f"{origin}/ma/ids", "_id": "0123456789abcdef", "send_image": 0}
        headers = {"Origin": origin, "User-Agent": DESKTOP_UA}
        assert httpx.get(f"{server.url}/matomo.php?{urlencode(query)}", headers=headers).status_code == 204
    stored = server.query("SELECT site, consented FROM events WHERE path = '/ma/ids' ORDER BY site")
    assert stored == [(SITE, False), ("other.org", True)]


def test_matomo_unknown_idsite_and_empty_requests_are_refused_in_one_line(server: LiveServer) -> None:
    unknown = httpx.get(f"{server.url}/matomo.php?idsite=99&rec=1&url=https://example.com/", headers=BROWSER)
    assert unknown.status_code == 403 and "matomo_site_id" in unknown.json()["error"]
    assert httpx.get(f"{server.url}/matomo.php", headers=BROWSER).status_code == 400
    assert httpx.delete(f"{server.url}/matomo.php", headers=BROWSER).status_code == 405


def test_snippet_contract_is_unchanged_for_requests_without_origin(server: LiveServer, tmp_path: Path) -> None:
    body = {"d": SITE, "u": f"{ORIGIN}/own"}
    answer = httpx.post(f"{server.url}/api/event", json=body, headers={"User-Agent": DESKTOP_UA})
    assert answer.status_code == 403


def test_no_door_stores_an_address_user_agent_uid_or_identify_data(server: LiveServer) -> None:
    secret = token(server, ["ingest"], ["other.org"])
    raw = {"cip": "198.51.100.77", "ua": f"{ANDROID_UA} Canary/7.7.7", "uid": "jane.doe@mail.example"}
    query = {"idsite": 7, "rec": 1, "url": "https://other.org/scan/canary-path", "token_auth": secret, **raw}
    assert httpx.get(f"{server.url}/matomo.php?{urlencode(query)}").status_code == 200
    identify = {"type": "identify", "payload": {"website": UMAMI_ID, "data": {"email": "john.roe@mail.example"}}}
    assert httpx.post(f"{server.url}/api/send", json=identify, headers=BROWSER).status_code == 200
    assert server.query("SELECT count(*) FROM events WHERE path = '/scan/canary-path'") == [(1,)]
    assert server.live.runtime is not None
    server.live.runtime.con.execute("CHECKPOINT")
    data = b"".join(f.read_bytes() for f in server.settings.data_dir.rglob("*") if f.is_file())
    assert b"/scan/canary-path" in data, "the scan reads what is stored"
    for value in (raw["cip"], "Canary/7.7.7", "jane.doe", "john.roe", secret):
        assert value.encode() not in data, value


def test_doors_share_the_pipeline_gpc_bots_and_scrubbing(server: LiveServer) -> None:
    gpc = {"website": UMAMI_ID, "url": "/pipe/gpc", "hostname": SITE, "data": {"contact": "ann@mail.example"}}
    answer = httpx.post(f"{server.url}/api/send", json={"payload": gpc}, headers={**BROWSER, "Sec-GPC": "1"})
    assert answer.status_code == 200
    bot = {"idsite": 3, "rec": 1, "url": f"{ORIGIN}/pipe/bot", "send_image": 0}
    crawler = {
        "Origin": ORIGIN,
        "User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    }
    assert httpx.get(f"{server.url}/matomo.php?{urlencode(bot)}", headers=crawler).status_code == 204
    stored = server.query("SELECT path, anonymous, visitor, props FROM events WHERE path LIKE '/pipe/%'")
    assert stored == [("/pipe/gpc", True, None, '{"contact":"[email]"}')], (
        "bots dropped, GPC anonymous, e-mail scrubbed"
    )
    assert server.query("SELECT events FROM drops WHERE reason = 'bot' AND site = ?", [SITE])[0][0] >= 1
