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

from collector.cli.main import main
from tests.conftest import LiveServer

SNIPPET_DIR = Path(__file__).resolve().parents[2] / "snippet"
DIST = SNIPPET_DIR / "dist" / "collector.js"
BROTLI = SNIPPET_DIR / "dist" / "collector.js.br"
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


def _unbrotli(data: bytes, tmp_path: Path) -> bytes:
    """Brotli-decode with Node's zlib (the Python stdlib has no Brotli)."""
    packed, unpacked = tmp_path / "in.br", tmp_path / "out.js"
    packed.write_bytes(data)
    script = (
        "const fs = require('fs'), z = require('zlib');"
        "fs.writeFileSync(process.argv[2], z.brotliDecompressSync(fs.readFileSync(process.argv[1])))"
    )
    subprocess.run(
        [_tool("node"), "-e", script, str(packed), str(unpacked)], check=True, capture_output=True, timeout=60
    )
    return unpacked.read_bytes()


def _served(server: LiveServer, **headers: str) -> tuple[httpx.Response, bytes]:
    """The response and its body as sent on the wire (httpx would otherwise decode gzip)."""
    with httpx.stream("GET", server.url + "/js/collector.js", headers=headers) as response:
        return response, b"".join(response.iter_raw())


def test_the_committed_build_is_the_build_of_the_source(tmp_path: Path) -> None:
    _npm_ci()
    for out in (tmp_path / "first", tmp_path / "second"):
        subprocess.run([_tool("node"), "build.mjs", str(out)], cwd=SNIPPET_DIR, check=True, capture_output=True)
    built = (tmp_path / "first" / "collector.js").read_bytes()
    assert built == DIST.read_bytes(), "snippet/dist is stale: run `make snippet` and commit the result"
    # Deterministic: a second build gives the same bytes.
    for name in ("collector.js", "collector.js.br"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()
    # The committed Brotli file holds exactly the committed build (compared decoded: encoders may differ by version).
    assert _unbrotli(BROTLI.read_bytes(), tmp_path) == built


def test_the_served_file_is_at_most_1000_bytes_gzipped(server: LiveServer) -> None:
    response, wire = _served(server, **{"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(wire) == DIST.read_bytes()
    assert len(wire) <= MAX_GZIP_BYTES, f"the snippet is {len(wire)} bytes gzipped; the budget is {MAX_GZIP_BYTES}"


def test_browsers_that_accept_brotli_get_the_smaller_brotli_file(server: LiveServer, tmp_path: Path) -> None:
    response, wire = _served(server, **{"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert response.headers["content-encoding"] == "br"
    assert wire == BROTLI.read_bytes()
    assert _unbrotli(wire, tmp_path) == DIST.read_bytes()
    gzipped, gz_wire = _served(server, **{"Accept-Encoding": "gzip, br;q=0"})
    assert gzipped.headers["content-encoding"] == "gzip"
    assert len(wire) < len(gz_wire)
    assert len({response.headers["etag"], gzipped.headers["etag"]}) == 2


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

    zipped, wire = _served(server, **{"Accept-Encoding": "gzip, deflate"})
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
