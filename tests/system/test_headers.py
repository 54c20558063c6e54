from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from collector.http.headers import HTML_CSP, OTHER_CSP
from collector.settings import Settings
from tests.conftest import ORIGIN, LiveServer
from tests.processes import ServerProcess, write_config

EVERY_KIND = [
    ("GET", "/", {}),
    ("GET", "/js/collector.js", {}),
    ("GET", "/healthz", {}),
    ("GET", "/openapi.json", {}),
    ("GET", "/metrics", {}),
    ("POST", "/api/event", {"Origin": ORIGIN, "Content-Type": "text/plain"}),
    ("OPTIONS", "/api/event", {"Origin": "https://evil.example"}),
    ("GET", "/no/such/page", {}),
    ("DELETE", "/api/event", {}),
]


def test_every_answer_carries_the_security_headers(server: LiveServer) -> None:
    for method, path, headers in EVERY_KIND:
        r = httpx.request(method, f"{server.url}{path}", headers=headers, content=b"{}" if method == "POST" else None)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path


def test_demo_page_policy_allows_only_its_own_script_and_hashed_style(server: LiveServer) -> None:
    r = httpx.get(f"{server.url}/")
    csp = r.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    style = re.search(r"<style>(.*?)</style>", r.text, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp, "the inline style must match its hash or browsers drop it"
    assert "<script>" not in r.text and "onload=" not in r.text, "no inline script for the policy to block"


async def bare_page(request: Request) -> Response:
    return HTMLResponse("<!doctype html><title>later page</title><p>no policy of its own</p>")


def test_html_that_sets_no_policy_gets_the_strictest_one(settings: Settings) -> None:
    server = LiveServer(settings)
    server.app.router.routes.append(Route("/later", bare_page, methods=["GET"]))
    server.start()
    try:
        html = httpx.get(f"{server.url}/later")
        assert html.headers["content-security-policy"] == HTML_CSP
        text = httpx.get(f"{server.url}/no/such/page")
        assert text.headers["content-security-policy"] == OTHER_CSP
    finally:
        server.stop()


def test_the_real_server_names_no_software_or_version(tmp_path: Path) -> None:
    server = ServerProcess(write_config(tmp_path / "collector.toml"), tmp_path / "data").start()
    try:
        for path in ("/", "/healthz", "/metrics", "/no/such/page"):
            r = httpx.get(f"{server.url}{path}")
            assert "server" not in r.headers, path
            assert "uvicorn" not in r.text.lower() and "starlette" not in r.text.lower(), path
            assert r.headers["x-content-type-options"] == "nosniff"
    finally:
        server.stop()


DEMO_CONFIG = """
[[sites]]
domain = "localhost"
origins = ["http://127.0.0.1:{port}"]
k_anonymity = 1
"""
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


def test_demo_page_works_under_its_policy_in_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Chromium is needed (Debian package chromium)"
    config = tmp_path / "collector.toml"
    server = ServerProcess(config, tmp_path / "data")
    config.write_text(DEMO_CONFIG.format(port=server.port), encoding="utf-8")
    server.start()
    try:
        browser = subprocess.run(
            [
                chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-agent={BROWSER_UA}", f"--user-data-dir={tmp_path / 'profile'}",
                "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000", "--dump-dom", f"{server.url}/",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
        assert "collector is running" in browser.stdout
        violations = [line for line in browser.stderr.splitlines() if "Content Security Policy" in line]
        assert violations == [], "the demo page's own policy blocks part of it"
        status = orjson.loads(server.run("status", "--json").stdout)
        assert status["sites"][0]["events"] == 1, "the snippet ran and its beacon was allowed to connect"
    finally:
        server.stop()
