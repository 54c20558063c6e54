from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.access.auth import create_token
from collector.cli.main import main
from collector.privacy.api import per_minute
from collector.settings import Privacy
from collector.storage import store
from tests.conftest import DESKTOP_UA, ORIGIN, SITE, LiveServer, make_settings, write_config

RAW_ID = "consented_Abc12345"


OTHER_ID = "consented_Zyx98765"


def token(server: LiveServer, scopes: list[str], sites: list[str] | None = None) -> str:
    assert server.live.runtime is not None
    cur = store.cursor(server.live.runtime.con)
    try:
        return create_token(cur, "shop-backend", scopes, sites)[1]
    finally:
        cur.close()


def send(server: LiveServer, raw_id: str | None, path: str = "/a", **extra: Any) -> None:
    body = '{"d":"example.com","u":"https://example.com' + path + '"' + (f',"id":"{raw_id}"' if raw_id else "") + "}"
    headers = {"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA, **extra}
    assert httpx.post(f"{server.url}/api/event", content=body, headers=headers).status_code == 202


def call(
    server: LiveServer, path: str, body: dict[str, Any], bearer: str | None = None, **headers: str
) -> httpx.Response:
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    return httpx.post(f"{server.url}{path}", json=body, headers=headers)


def rows_about(server: LiveServer, visitor: int) -> dict[str, int]:
    """Rows left about a visitor of example.com in every table with a visitor column (empty: none anywhere)."""
    tables = server.query(
        "SELECT table_name FROM information_schema.columns WHERE column_name = 'visitor' "
        "AND table_catalog = current_database()"
    )
    counts = {
        t: server.query(f'SELECT count(*) FROM "{t}" WHERE visitor = ? AND site = ?', [visitor, SITE])[0][0]
        for (t,) in tables
    }
    return {t: n for t, n in counts.items() if n}


def identify(server: LiveServer, bearer: str, raw_id: str, account: str) -> httpx.Response:
    return call(server, "/api/identify", {"site": SITE, "visitor_id": raw_id, "account": account}, bearer)


def test_identify_stores_only_a_keyed_hash_of_the_account(server: LiveServer) -> None:
    r = identify(server, token(server, ["identify"]), RAW_ID, " Jane.Doe@Example.com ")
    assert r.status_code == 200, r.text
    assert r.json() == {"linked": True, "kind": "email"}
    [(account, kind, visitor)] = server.query("SELECT account, kind, visitor FROM identities")
    assert kind == "email" and len(account) == 64 and "jane" not in account
    send(server, RAW_ID)
    assert server.query("SELECT visitor FROM events") == [(visitor,)]
    assert server.query("SELECT action, site, target, outcome FROM audit_log") == [("identify", SITE, "email", "ok")]


def test_identify_needs_a_token_with_the_identify_scope(server: LiveServer) -> None:
    r = identify(server, "col_nope_nope", RAW_ID, "jane@x.com")
    assert r.status_code == 401 and r.json()["field"] is None
    r = identify(server, token(server, ["stats:read"]), RAW_ID, "jane@x.com")
    assert r.status_code == 403 and "identify" in r.json()["error"]
    r = identify(server, token(server, ["identify"], ["other.org"]), RAW_ID, "jane@x.com")
    assert r.status_code == 403
    assert server.query("SELECT count(*) FROM identities") == [(0,)]
    assert server.query("SELECT outcome FROM audit_log ORDER BY ts") == [("denied",), ("denied",)]


def test_identify_refuses_bad_input_without_echoing_it(server: LiveServer) -> None:
    bearer = token(server, ["identify"])
    r = identify(server, bearer, RAW_ID, "0912 345 678")
    assert r.status_code == 400 and r.json()["field"] == "account" and "912" not in r.text
    r = identify(server, bearer, "short", "jane@x.com")
    assert r.status_code == 400 and r.json()["field"] == "id"
    r = httpx.post(f"{server.url}/api/identify", content=b"{nope", headers={"Authorization": f"Bearer {bearer}"})
    assert r.status_code == 400 and r.json() == {"error": "body is not valid JSON", "field": "body"}


def test_backend_erases_everything_about_an_account_in_one_go(server: LiveServer) -> None:
    bearer = token(server, ["identify", "erase"])
    assert identify(server, bearer, RAW_ID, "jane@x.com").status_code == 200
    send(server, RAW_ID, "/a")
    send(server, RAW_ID, "/b")
    send(server, OTHER_ID, "/c")
    send(server, None, "/d")
    # A table added later (profiles, segment_members, ...) is covered because it has a visitor column.
    [(visitor,)] = server.query("SELECT DISTINCT visitor FROM events WHERE path = '/a'")
    server.query("CREATE TABLE visitor_notes (site VARCHAR, note VARCHAR, visitor UBIGINT)")
    server.query(
        "INSERT INTO visitor_notes VALUES ('example.com', 'buyer', ?), ('other.org', 'buyer', ?)", [visitor, visitor]
    )
    r = call(server, "/api/privacy/erase", {"site": SITE, "account": "JANE@x.com"}, bearer)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["erased"] == sum(result["tables"].values())
    erased = {t: n for t, n in result["tables"].items() if n}
    assert erased["events"] == 2 and erased["identities"] == 1 and erased["visitor_notes"] == 1
    assert erased.get("profiles") == 1  # the profile of this consented visitor
    assert rows_about(server, visitor) == {}
    assert server.query("SELECT path FROM events ORDER BY path") == [("/c",), ("/d",)]
    assert server.query("SELECT site FROM visitor_notes") == [("other.org",)]
    assert server.query("SELECT count(*) FROM identities") == [(0,)]
    [(kind, channel, rows, done, days)] = server.query(
        "SELECT kind, channel, rows_affected, completed IS NOT NULL, date_diff('day', received, due) "
        "FROM privacy_requests"
    )
    assert (kind, channel, rows, done, days) == ("erase", "backend", result["erased"], True, 15)
    assert server.query("SELECT action, target FROM audit_log WHERE action LIKE 'privacy%'") == [
        ("privacy.erase", result["request"])
    ]


def test_browser_exports_then_erases_its_own_data_with_its_consented_id(server: LiveServer) -> None:
    send(server, RAW_ID, "/a")
    send(server, OTHER_ID, "/b")
    r = call(server, "/api/privacy/export", {"d": SITE, "id": RAW_ID}, Origin=ORIGIN)
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == ORIGIN
    data = r.json()
    assert [e["path"] for e in data["tables"]["events"]] == ["/a"]
    assert data["tables"]["identities"] == []
    r = call(server, "/api/privacy/erase", {"d": SITE, "id": RAW_ID}, Origin=ORIGIN)
    assert r.status_code == 200 and r.json()["tables"]["events"] == 1
    assert server.query("SELECT path FROM events") == [("/b",)]
    assert server.query("SELECT kind, channel FROM privacy_requests ORDER BY received") == [
        ("export", "browser"),
        ("erase", "browser"),
    ]


def test_browser_requests_need_a_registered_origin_and_a_well_formed_id(server: LiveServer) -> None:
    send(server, RAW_ID)
    r = call(server, "/api/privacy/erase", {"d": SITE, "id": RAW_ID}, Origin="https://evil.example")
    assert r.status_code == 403 and r.json()["field"] == "origin"
    r = call(server, "/api/privacy/erase", {"d": SITE, "id": RAW_ID}, Origin="https://other.org")
    assert r.status_code == 403
    r = call(server, "/api/privacy/erase", {"d": SITE}, Origin=ORIGIN)
    assert r.status_code == 400 and r.json()["field"] == "id"
    r = call(server, "/api/privacy/erase", {"d": SITE, "id": "x"}, Origin=ORIGIN)
    assert r.status_code == 400 and r.json()["field"] == "id"
    assert server.query("SELECT count(*) FROM events") == [(1,)]
    r = httpx.options(f"{server.url}/api/privacy/erase", headers={"Origin": ORIGIN})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == ORIGIN


def test_browser_requests_are_rate_limited_per_address(server: LiveServer) -> None:
    limit = per_minute(10)
    assert [limit.take("a") == 0 for _ in range(11)] == [True] * 10 + [False]
    assert limit.take("b") == 0
    assert server.live.privacy is not None
    server.live.privacy.limit = per_minute(2)
    codes = [
        call(server, "/api/privacy/export", {"d": SITE, "id": RAW_ID}, Origin=ORIGIN).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 429]


@pytest.fixture
def vn_server(tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path, privacy=Privacy(default_country_code="84"))).start()
    try:
        yield live
    finally:
        live.stop()


def test_cli_erase_export_and_request_log_work_through_the_running_server(
    vn_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = vn_server
    config = write_config(tmp_path, server.settings.data_dir)
    bearer = token(server, ["identify"])
    assert identify(server, bearer, RAW_ID, "+84 912 345 678").status_code == 200
    send(server, RAW_ID)
    assert (
        main(["requests", "add", "--config", str(config), "--site", SITE, "--type", "erase", "--account", "0912345678"])
        == 0
    )
    request_id = capsys.readouterr().out.split()[-1]
    server.query("UPDATE privacy_requests SET received = received - INTERVAL 20 DAY, due = due - INTERVAL 20 DAY")
    assert main(["requests", "--config", str(config)]) == 1  # one open request is overdue
    assert "OVERDUE" in capsys.readouterr().out
    out = tmp_path / "export.json"
    assert (
        main(["export-visitor", "--config", str(config), "--site", SITE, "--account", "0912 345 678", "-o", str(out)])
        == 0
    )
    assert '"path": "/a"' in out.read_text()
    assert (
        main(["erase", "--config", str(config), "--site", SITE, "--account", "0912345678", "--request", request_id])
        == 0
    )
    assert "  events: 1\n  identities: 1\n" in capsys.readouterr().out
    assert main(["requests", "--config", str(config)]) == 0
    assert "no open privacy requests" in capsys.readouterr().out
    assert server.query("SELECT count(*) FROM events") == [(0,)]


def test_cli_erase_works_on_the_file_when_no_server_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)
    server = LiveServer(settings).start()
    try:
        send(server, RAW_ID)
    finally:
        server.stop()
    config = write_config(tmp_path, settings.data_dir)
    assert main(["erase", "--config", str(config), "--site", SITE, "--visitor-id", RAW_ID]) == 0
    assert "  events: 1\n" in capsys.readouterr().out
    assert main(["requests", "--all", "--json", "--config", str(config)]) == 0
    assert '"channel": "cli"' in capsys.readouterr().out


def test_an_erased_visitor_leaves_the_segments_index_at_once(server: LiveServer) -> None:
    send(server, RAW_ID, "/a")
    assert server.live.segments is not None
    server.live.segments.refresh_now()
    auth = {"Authorization": f"Bearer {token(server, ['segments:read'])}"}
    lookup = {"site": SITE, "visitor": RAW_ID}
    assert httpx.get(f"{server.url}/api/segments", params=lookup, headers=auth).json()["segments"] != []
    r = call(server, "/api/privacy/erase", {"d": SITE, "id": RAW_ID}, Origin=ORIGIN)
    assert r.status_code == 200, r.text
    # No refresh in between: the erase itself told the in-memory index.
    assert httpx.get(f"{server.url}/api/segments", params=lookup, headers=auth).json()["segments"] == []


def journal_bytes(settings: Any) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(Path(settings.journal_path).glob("*.log")))


@pytest.mark.parametrize("channel", ["browser", "cli"])
def test_erased_events_do_not_outlive_the_erasure_in_the_journal(
    tmp_path: Path, channel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, encrypt=False)  # plain, so that the journal's bytes can be searched
    server = LiveServer(settings).start()
    try:
        send(server, RAW_ID, "/erase-me-please")
        send(server, OTHER_ID, "/keep-me")
        assert server.live.writer is not None and server.live.writer.sync()
        assert b"/erase-me-please" in journal_bytes(settings), "the test must be able to see journaled events"
        if channel == "browser":
            assert call(server, "/api/privacy/erase", {"d": SITE, "id": RAW_ID}, Origin=ORIGIN).status_code == 200
        else:
            config = write_config(tmp_path, settings.data_dir, encrypt=False)
            assert main(["erase", "--config", str(config), "--site", SITE, "--visitor-id", RAW_ID]) == 0
        assert b"/erase-me-please" not in journal_bytes(settings)
        send(server, OTHER_ID, "/after")
        assert server.query("SELECT path FROM events ORDER BY path") == [("/after",), ("/keep-me",)]
    finally:
        server.stop()
    # A restart replays nothing twice and loses nothing.
    server = LiveServer(settings).start()
    try:
        assert server.query("SELECT path FROM events ORDER BY path") == [("/after",), ("/keep-me",)]
    finally:
        server.stop()


def test_cli_erase_without_a_server_empties_the_journal_of_erased_events(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, encrypt=False)
    server = LiveServer(settings).start()
    try:
        send(server, RAW_ID, "/erase-me-please")
        send(server, OTHER_ID, "/keep-me")
    finally:
        server.stop()
    assert b"/erase-me-please" in journal_bytes(settings)
    config = write_config(tmp_path, settings.data_dir, encrypt=False)
    assert main(["erase", "--config", str(config), "--site", SITE, "--visitor-id", RAW_ID]) == 0
    assert b"/erase-me-please" not in journal_bytes(settings)
    server = LiveServer(settings).start()
    try:
        assert server.query("SELECT path FROM events") == [("/keep-me",)]
    finally:
        server.stop()
