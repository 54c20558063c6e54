from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from collector.http.app import create_app
from collector.http.openapi import METHODS, document, merge
from tests.conftest import LiveServer, make_settings
from tests.system.test_access import make_token


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_every_route_of_the_app_is_described(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    app = create_app(settings)
    doc = document(settings)
    missing = []
    for route in app.routes:
        assert isinstance(route, Route), f"describe {route!r} in collector/openapi.py"
        for method in sorted((route.methods or set()) - {"HEAD"}):
            if method.lower() not in doc["paths"].get(route.path, {}):
                missing.append(f"{method} {route.path}")
    for direct in app.direct_routes:
        missing += [f"{m} {direct.path}" for m in sorted(direct.methods) if m.lower() not in doc["paths"][direct.path]]
    assert missing == [], "add these to a module's OPENAPI_PATHS and list it in openapi.SOURCES"


def test_every_described_operation_exists_and_every_ref_resolves(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    app = create_app(settings)
    routes = {(r.path, m.lower()) for r in app.routes if isinstance(r, Route) for m in r.methods or ()}
    routes |= {(r.path, m.lower()) for r in app.direct_routes for m in r.methods}
    doc = document(settings)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert method in METHODS and (path, method) in routes, f"{method} {path} is described but not served"
            assert operation["responses"], f"{method} {path} has no answers"
            assert "security" in operation, f"{method} {path} must say whether it needs a token"
    for ref in refs(doc):
        section, kind, name = ref.removeprefix("#/").split("/")
        assert name in doc[section][kind], ref


def test_two_modules_cannot_describe_the_same_operation() -> None:
    paths: dict[str, Any] = {"/x": {"get": {}}}
    merge(paths, {"/x": {"post": {}}}, "a")
    assert set(paths["/x"]) == {"get", "post"}
    with pytest.raises(ValueError, match="b describes GET /x"):
        merge(paths, {"/x": {"get": {}}}, "b")


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
