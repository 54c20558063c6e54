"""Every /dashboard route is described for the OpenAPI document, as public and with its answers and filters."""

from __future__ import annotations

from pathlib import Path

from collector.dashboard import views as dashboard
from collector.stats.filters import FIELDS
from tests.conftest import make_settings


def test_every_dashboard_route_is_described_for_the_openapi_document(tmp_path: Path) -> None:
    described = dashboard.OPENAPI_PATHS
    for route in dashboard.Dashboard(make_settings(tmp_path), lambda: None).routes():
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operation = described[route.path][method.lower()]
            assert operation["security"] == [] and operation["responses"], f"{method} {route.path}"
    filters = {p["name"] for p in described["/dashboard/api/report"]["get"]["parameters"]}
    assert {"filter", *FIELDS} <= filters
