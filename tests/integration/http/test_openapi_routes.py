"""The OpenAPI document and the app's routes agree: every route described, every description served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.routing import Route

from collector.app import FEATURES, create_app
from collector.http.openapi import METHODS, document
from tests.conftest import make_settings


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
    doc = document(settings, FEATURES)
    missing = []
    for route in app.routes:
        assert isinstance(route, Route), f"describe {route!r} in the paths of its feature"
        for method in sorted((route.methods or set()) - {"HEAD"}):
            if method.lower() not in doc["paths"].get(route.path, {}):
                missing.append(f"{method} {route.path}")
    for direct in app.direct_routes:
        missing += [f"{m} {direct.path}" for m in sorted(direct.methods) if m.lower() not in doc["paths"][direct.path]]
    assert missing == [], "describe these in the paths of the feature that serves them"


def test_every_described_operation_exists_and_every_ref_resolves(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    app = create_app(settings)
    routes = {(r.path, m.lower()) for r in app.routes if isinstance(r, Route) for m in r.methods or ()}
    routes |= {(r.path, m.lower()) for r in app.direct_routes for m in r.methods}
    doc = document(settings, FEATURES)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert method in METHODS and (path, method) in routes, f"{method} {path} is described but not served"
            assert operation["responses"], f"{method} {path} has no answers"
            assert "security" in operation, f"{method} {path} must say whether it needs a token"
    for ref in refs(doc):
        section, kind, name = ref.removeprefix("#/").split("/")
        assert name in doc[section][kind], ref
