"""The dashboard: /dashboard, its login and its JSON API, for people who log in (collector.access.users)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

from collector.dashboard.views import OPENAPI_PATHS, Dashboard
from collector.feature import Core, Feature, described
from collector.settings import Settings


def routes(settings: Settings, live: Core) -> Sequence[BaseRoute]:
    return Dashboard(settings, lambda: live.runtime.con if live.runtime else None).routes()


FEATURE: Feature[Core] = Feature("dashboard", paths=described(OPENAPI_PATHS), routes=routes)
