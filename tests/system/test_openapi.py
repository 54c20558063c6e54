from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx

from tests.conftest import LiveServer, make_settings
from tests.system.test_access import make_token


def test_document_is_served_and_public(server: LiveServer) -> None:
    r = httpx.get(f"{server.url}/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"] == "3.1.0"
    assert doc["paths"]["/metrics"]["get"]["security"] == [{"bearer": ["admin"]}]
    assert doc["components"]["schemas"]["Event"]["properties"]["d"]["description"].endswith("example.com, other.org")


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(tmp_path: Path) -> None:
    # Rate limits off and a large body cap: schemathesis sends thousands of requests from one client,
    # and a schema-valid batch may exceed the default cap (a size JSON Schema cannot express).
    settings = replace(
        make_settings(tmp_path),
        rate_limit_client_per_second=0,
        rate_limit_site_per_second=0,
        max_body_bytes=4 * 1024 * 1024,
    )
    server = LiveServer(settings).start()
    try:
        token = make_token(server, "schemathesis", ["admin"])
        # A named query's parameters depend on the query and on each other (from <= to); the segments
        # and privacy APIs check site names, id formats and report shapes their descriptions do not
        # spell out yet. There, schema-valid input may also get a documented 400; ingest, metrics and
        # the pages must accept every valid input. No operation may answer 5xx or off the document.
        config = tmp_path / "schemathesis.toml"
        config.write_text(
            '[[operations]]\ninclude-path-regex = "^/api/(query|segments|identify|privacy|csp-report)"\n'
            'checks.positive_data_acceptance.expected-statuses = ["2XX", "400", "401", "403", "404"]\n',
            encoding="utf-8",
        )
        st = Path(sys.executable).parent / "st"
        result = subprocess.run(
            [
                str(st), "--config-file", str(config), "run", f"{server.url}/openapi.json",
                "--header", f"Authorization: Bearer {token}",
                "--checks", "all",
                "--max-examples", "15",
                "--seed", "20261125",
                "--phases", "coverage,fuzzing",
                "--generation-database", "none",
                "--no-color",
                "--report", "junit", "--report-dir", str(tmp_path / "report"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env=os.environ | {"SCHEMATHESIS_TELEMETRY": "false"},
        )  # fmt: skip
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "FAILURES" not in result.stdout and "ERRORS" not in result.stdout, result.stdout[-4000:]
    selected = re.search(r"Selected: (\d+)/(\d+)", result.stdout)
    assert selected and selected.group(1) == selected.group(2), "no operation was left out"
    assert f"Tested: {selected.group(1)}" in result.stdout, "every selected operation was exercised"
    assert int(selected.group(1)) >= 7
