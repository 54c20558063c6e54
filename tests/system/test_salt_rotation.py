"""Visitor hashes stored through a live server use the server's daily salt, also after a rotation replaces it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from collector.identifiers.visitor import daily_visitor
from tests.conftest import DESKTOP_UA, ORIGIN, SITE, LiveServer, make_settings


def body(**fields: object) -> bytes:
    return orjson.dumps({"d": SITE, "u": "https://example.com/a"} | fields)


def test_visitor_hashes_stored_through_the_server_use_its_salt_also_after_it_changes(tmp_path: Path) -> None:
    server = LiveServer(make_settings(tmp_path)).start()
    try:
        assert server.live.runtime is not None
        salts = server.live.runtime.salts
        today = datetime.now(UTC).date()

        def post(path: str) -> None:
            response = httpx.post(
                f"{server.url}/api/event",
                content=body(u=f"https://example.com/{path}"),
                headers={"Origin": ORIGIN, "Content-Type": "text/plain", "User-Agent": DESKTOP_UA},
            )
            assert response.status_code == 202, response.text

        def stored(path: str) -> int:
            return int(server.query("SELECT visitor FROM events WHERE path = ?", [f"/{path}"])[0][0])

        post("before")
        assert stored("before") == daily_visitor(salts(today), SITE, "127.0.0.1", DESKTOP_UA)
        salts.replace({**salts.known(), today: b"n" * 32})  # as a rotation does, from another thread
        post("after")
        assert stored("after") == daily_visitor(b"n" * 32, SITE, "127.0.0.1", DESKTOP_UA)
    finally:
        server.stop()
