from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.conftest import DESKTOP_UA, ORIGIN, SITE, LiveServer, make_settings

URL = "https://example.com/"


def post(server: LiveServer, body: bytes | str, headers: dict[str, str] | None = None) -> httpx.Response:
    base = {"Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8", "User-Agent": DESKTOP_UA}
    base.update(headers or {})
    return httpx.post(f"{server.url}/api/event", content=body, headers=base)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the many tests that only check answers to bad input."""
    live = LiveServer(make_settings(tmp_path_factory.mktemp("shared"))).start()
    yield live
    live.stop()


def event(**fields: object) -> bytes:
    return orjson.dumps({"d": SITE, "u": URL} | fields)


def count(server: LiveServer) -> int:
    return int(server.query("SELECT count(*) FROM events")[0][0])


def test_pageview_is_stored_with_every_contract_column(server: LiveServer) -> None:
    body = event(
        u="https://example.com/a/b?utm_source=news&utm_campaign=nov&gclid=abc&q=secret",
        r="https://www.google.com/search?q=x",
        w=390,
        h=844,
        l="vi-VN",
        tz="Asia/Ho_Chi_Minh",
        p={"plan": "pro"},
    )
    r = post(server, body)
    assert r.status_code == 202, r.text
    assert r.content == b""
    assert r.headers["access-control-allow-origin"] == ORIGIN
    rows = server.query(
        "SELECT site, name, path, referrer_host, utm_source, utm_campaign, screen_w, screen_h, language, timezone,"
        " props->>'plan', visitor IS NOT NULL, browser_name, os_name FROM events"
    )
    assert rows == [
        (
            SITE,
            "pageview",
            "/a/b",
            "google.com",
            "news",
            "nov",
            390,
            844,
            "vi-VN",
            "Asia/Ho_Chi_Minh",
            "pro",
            True,
            "Chrome",
            "Windows",
        ),
    ]


def test_application_json_is_accepted_too(server: LiveServer) -> None:
    r = post(server, event(n="signup"), {"Content-Type": "application/json"})
    assert r.status_code == 202
    assert server.query("SELECT name FROM events") == [("signup",)]


def test_batch_of_events_is_stored_in_one_request(server: LiveServer) -> None:
    body = orjson.dumps([{"d": SITE, "u": f"https://example.com/p{i}"} for i in range(100)])
    assert post(server, body).status_code == 202
    assert count(server) == 100


def test_batch_over_the_limit_is_refused_whole(server: LiveServer) -> None:
    body = orjson.dumps([{"d": SITE, "u": URL}] * 101)
    r = post(server, body)
    assert r.status_code == 400
    assert r.json()["field"] == "body"
    assert count(server) == 0


def test_one_bad_event_in_a_batch_names_its_index_and_stores_nothing(server: LiveServer) -> None:
    body = orjson.dumps([{"d": SITE, "u": URL}, {"d": SITE, "u": URL, "w": -5}])
    r = post(server, body)
    assert r.status_code == 400
    assert r.json() == {"error": "w must be between 1 and 100000", "field": "w", "index": 1}
    assert count(server) == 0


def test_foreign_origin_is_forbidden(server: LiveServer) -> None:
    r = post(server, event(), {"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert r.json()["field"] == "origin"
    assert "access-control-allow-origin" not in r.headers
    assert count(server) == 0


def test_missing_origin_is_forbidden(server: LiveServer) -> None:
    r = httpx.post(f"{server.url}/api/event", content=event(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 403


def test_origin_of_another_registered_site_cannot_send_for_this_one(server: LiveServer) -> None:
    r = post(server, event(), {"Origin": "https://other.org"})
    assert r.status_code == 403
    assert r.json()["field"] == "origin"


def test_unknown_site_is_forbidden(server: LiveServer) -> None:
    r = post(server, event(d="unknown.net"))
    assert r.status_code == 403
    assert r.json()["field"] == "d"


def test_oversized_body_is_refused_with_413(server: LiveServer) -> None:
    r = post(server, b"{" + b" " * 17_000 + b"}")
    assert r.status_code == 413


def test_oversized_chunked_body_is_refused_with_413(server: LiveServer) -> None:
    def chunks() -> object:
        for _ in range(40):
            yield b" " * 1024

    r = httpx.post(
        f"{server.url}/api/event",
        content=chunks(),  # type: ignore[arg-type]
        headers={"Origin": ORIGIN, "Content-Type": "text/plain"},
    )
    assert r.status_code == 413


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data", ""])
def test_other_content_types_are_refused_with_415(shared_server: LiveServer, content_type: str) -> None:
    r = post(shared_server, event(), {"Content-Type": content_type})
    assert r.status_code == 415


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"", "body"),
        (b"[" * 5000 + b"]" * 5000, "body"),
        (b'{"d": "example.com", "u": "https://example.com/\xff\xfe"}', "body"),
        (b"42", "body"),
        (b"[]", "body"),
        (b"[1, 2]", "body"),
        (event(d=None), "d"),
        (event(d=5), "d"),
        (event(u="javascript:alert(1)"), "u"),
        (event(u="https://example.com/" + "a" * 10_000), "u"),
        (event(w=-1), "w"),
        (event(w=10**18), "w"),
        (b'{"d": "example.com", "u": "https://example.com/", "w": 1e308}', "w"),
        (event(w="wide"), "w"),
        (event(h=True), "h"),
        (event(n="x" * 10_000), "n"),
        (event(n="bad\x00name"), "n"),
        (event(l="en US; drop table"), "l"),
        (event(tz="Not a zone!"), "tz"),
        (event(p=[1, 2]), "p"),
        (event(p={"k": {"nested": 1}}), "p"),
        (event(p={f"k{i}": "v" for i in range(31)}), "p"),
        (event(p={"k": "v" * 300}), "p"),
        (event(ch="Pixel"), "ch"),
        (event(id="short"), "id"),
        (event(wd="yes"), "wd"),
    ],
)
def test_bad_input_gets_a_clear_400(shared_server: LiveServer, body: bytes, field: str) -> None:
    before = count(shared_server)
    r = post(shared_server, body)
    assert r.status_code == 400, r.text
    answer = r.json()
    assert answer["field"] == field
    assert isinstance(answer["error"], str) and answer["error"]
    assert count(shared_server) == before


def test_huge_integer_is_a_400_not_a_500(server: LiveServer) -> None:
    r = post(server, b'{"d": "example.com", "u": "https://example.com/", "w": 1' + b"0" * 400 + b"}")
    assert r.status_code == 400


def test_sql_looking_and_unicode_strings_are_stored_as_plain_data(server: LiveServer) -> None:
    hostile = "'); DROP TABLE events; --"
    r = post(server, event(n=hostile, u="https://example.com/%27%3B--/ünï", p={"q": '" OR 1=1 --', "e": "😀"}))
    assert r.status_code == 202
    rows = server.query("SELECT name, path, props->>'q', props->>'e' FROM events")
    assert rows == [(hostile, "/%27%3B--/ünï", '" OR 1=1 --', "😀")]


def test_unknown_fields_are_ignored_for_forward_compatibility(server: LiveServer) -> None:
    assert post(server, event(future_field={"x": 1})).status_code == 202
    assert count(server) == 1


def test_cors_preflight_allows_exactly_registered_origins(server: LiveServer) -> None:
    ok = httpx.options(
        f"{server.url}/api/event",
        headers={"Origin": "https://www.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == "https://www.example.com"
    assert "POST" in ok.headers["access-control-allow-methods"]
    bad = httpx.options(
        f"{server.url}/api/event",
        headers={"Origin": "https://example.com.evil.net", "Access-Control-Request-Method": "POST"},
    )
    assert bad.status_code == 403
    assert "access-control-allow-origin" not in bad.headers


def test_automation_flag_is_dropped_silently_and_counted(server: LiveServer) -> None:
    r = post(server, event(wd=True))
    assert r.status_code == 202
    assert count(server) == 0
    assert server.live.writer is not None
    httpx.get(f"{server.url}/healthz")  # a commit flushes the drop counters
    assert server.query("SELECT site, reason, events FROM drops") == [(SITE, "automation", 1)]


def test_bot_user_agent_is_dropped_silently(server: LiveServer) -> None:
    r = post(
        server, event(), {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}
    )
    assert r.status_code == 202
    httpx.get(f"{server.url}/healthz")
    assert count(server) == 0
    assert server.query("SELECT reason FROM drops") == [("bot",)]


def test_gpc_header_keeps_the_event_without_any_visitor_hash(server: LiveServer) -> None:
    r = post(server, event(id="consented-visitor-123"), {"Sec-GPC": "1"})
    assert r.status_code == 202
    assert server.query("SELECT visitor, consented, anonymous FROM events") == [(None, False, True)]


def test_consented_id_is_hashed_and_stable(server: LiveServer) -> None:
    for _ in range(2):
        assert post(server, event(id="consented-visitor-123")).status_code == 202
    rows = server.query("SELECT DISTINCT visitor, consented FROM events")
    assert len(rows) == 1 and rows[0][1] is True


def test_healthz_reports_a_writable_store(server: LiveServer) -> None:
    r = httpx.get(f"{server.url}/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_concurrent_requests_share_commits_and_all_are_stored(server: LiveServer) -> None:
    async def drive() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url) as client:
            headers = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA}
            tasks = [
                client.post("/api/event", content=event(u=f"https://example.com/c{i}"), headers=headers)
                for i in range(200)
            ]
            return [r.status_code for r in await asyncio.gather(*tasks)]

    statuses = asyncio.run(drive())
    assert statuses == [202] * 200
    assert count(server) == 200
    assert server.live.writer is not None
    assert server.live.writer.stats.groups < 200  # group commit: requests shared journal fsyncs


def test_slow_body_is_cut_off(server: LiveServer) -> None:
    assert server.live.ingest is not None
    server.live.ingest.body_timeouts.seconds = 0.5
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(
            b"POST /api/event HTTP/1.1\r\nHost: x\r\nOrigin: https://example.com\r\n"
            b'Content-Type: text/plain\r\nContent-Length: 100\r\n\r\n{"d":'
        )
        sock.settimeout(5)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408")


def test_reduced_android_ua_with_model_hint_stores_the_phones_name(server: LiveServer) -> None:
    reduced = (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36"
    )
    headers = {"User-Agent": reduced, "Sec-CH-UA-Mobile": "?1", "Sec-CH-UA-Platform": '"Android"'}
    assert (
        post(
            server, event(ch={"model": "Pixel 7", "platform": "Android", "platformVersion": "14"}), headers
        ).status_code
        == 202
    )
    rows = server.query("SELECT device_type, device_brand, device_model, os_name, os_version FROM events")
    assert rows == [("mobile", "Google", "Pixel 7", "Android", "14")]
