"""The snippet file: its size, that the committed build is the build of the source, how it is served, the tag."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from collector.cli import main
from collector.snippet import TagError, load_snippet, tag
from tests.conftest import LiveServer

SNIPPET_DIR = Path(__file__).resolve().parent.parent / "snippet"
DIST = SNIPPET_DIR / "dist" / "collector.js"
MAX_GZIP_BYTES = 1000


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian: apt-get install nodejs npm)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _npm_ci() -> None:
    """npm ci, unless snippet/node_modules already holds the locked minifier (a cache, git-ignored)."""
    lock = json.loads((SNIPPET_DIR / "package-lock.json").read_text())
    installed = SNIPPET_DIR / "node_modules" / "uglify-js" / "package.json"
    want = lock["packages"]["node_modules/uglify-js"]["version"]
    if installed.exists() and json.loads(installed.read_text())["version"] == want:
        return
    subprocess.run(
        [_tool("npm"), "ci", "--no-audit", "--no-fund"], cwd=SNIPPET_DIR, check=True, capture_output=True, timeout=300
    )


def _served(server: LiveServer, **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent on the wire (httpx would otherwise decode gzip)."""
    with httpx.stream("GET", server.url + "/js/collector.js", headers=headers) as response:
        return response, b"".join(response.iter_raw())


def test_the_committed_build_is_the_build_of_the_source(tmp_path: Path) -> None:
    _npm_ci()
    out = tmp_path / "collector.js"
    subprocess.run([_tool("node"), "build.mjs", str(out)], cwd=SNIPPET_DIR, check=True, capture_output=True, timeout=60)
    assert out.read_bytes() == DIST.read_bytes(), "snippet/dist is stale: run `make snippet` and commit the result"
    # Deterministic: a second build gives the same bytes.
    again = tmp_path / "again.js"
    subprocess.run([_tool("node"), "build.mjs", str(again)], cwd=SNIPPET_DIR, check=True, capture_output=True)
    assert again.read_bytes() == out.read_bytes()


def test_the_served_file_is_at_most_1000_bytes_gzipped(server: LiveServer) -> None:
    response, wire = _served(server, **{"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(wire) == DIST.read_bytes()
    assert len(wire) <= MAX_GZIP_BYTES, f"the snippet is {len(wire)} bytes gzipped; the budget is {MAX_GZIP_BYTES}"


def test_the_snippet_is_served_with_type_cache_etag_corp_and_gzip(server: LiveServer) -> None:
    plain, body = _served(server, **{"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert body == DIST.read_bytes()
    assert "content-encoding" not in plain.headers
    assert plain.headers["content-type"] == "text/javascript; charset=utf-8"
    assert re.fullmatch(r"public, max-age=\d+.*", plain.headers["cache-control"])
    assert int(re.search(r"max-age=(\d+)", plain.headers["cache-control"]).group(1)) >= 600  # type: ignore[union-attr]
    assert plain.headers["cross-origin-resource-policy"] == "cross-origin"
    assert plain.headers["access-control-allow-origin"] == "*"  # needed by crossorigin + integrity
    assert plain.headers["x-content-type-options"] == "nosniff"
    assert "accept-encoding" in plain.headers["vary"].lower()

    zipped, wire = _served(server, **{"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(wire) == body

    # Strong ETags (no W/), one per representation, and 304 when the browser has the one it would get.
    assert plain.headers["etag"].startswith('"') and zipped.headers["etag"].startswith('"')
    assert plain.headers["etag"] != zipped.headers["etag"]
    again, empty = _served(server, **{"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["etag"]})
    assert (again.status_code, empty, again.headers["etag"]) == (304, b"", zipped.headers["etag"])
    other, _ = _served(server, **{"Accept-Encoding": "gzip", "If-None-Match": plain.headers["etag"]})
    assert other.status_code == 200
    weak, _ = _served(server, **{"Accept-Encoding": "identity", "If-None-Match": "W/" + plain.headers["etag"]})
    assert weak.status_code == 304
    head = httpx.head(server.url + "/js/collector.js")
    assert head.status_code == 200 and head.headers["etag"]


def test_snippet_command_prints_the_tag_with_the_integrity_of_the_served_file(
    server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["snippet", "--site", "example.com", "--url", "https://stats.example.com/"]) == 0
    printed = capsys.readouterr().out.strip()
    match = re.fullmatch(
        r'<script defer src="https://stats\.example\.com/js/collector\.js" data-site="example\.com" '
        r'integrity="sha384-([A-Za-z0-9+/=]+)" crossorigin="anonymous"></script>',
        printed,
    )
    assert match, printed
    _, served = _served(server, **{"Accept-Encoding": "identity"})
    assert base64.b64decode(match.group(1)) == hashlib.sha384(served).digest()

    assert main(["snippet", "--site", "example.com", "--url", "https://stats.example.com", "--no-integrity"]) == 0
    assert capsys.readouterr().out.strip() == (
        '<script defer src="https://stats.example.com/js/collector.js" data-site="example.com"></script>'
    )


@pytest.mark.parametrize(
    ("url", "site"),
    [
        ("ftp://stats.example.com", "example.com"),
        ("https://stats.example.com/?x=1", "example.com"),
        ("https://stats.example.com", 'example.com" onload="alert(1)'),
        ("https://stats.example.com", ""),
    ],
)
def test_snippet_tag_refuses_what_cannot_go_into_it(url: str, site: str) -> None:
    with pytest.raises(TagError):
        tag(load_snippet(), url, site)
    assert main(["snippet", "--site", site, "--url", url]) == 2
