"""The dashboard's numbers: every panel is a named query, run for one site, period and set of filters.

One report runs all panels in one connection: the rollups are refreshed once, and a filtered report
builds its scope (collector/stats/filtered.py) once, for the period and the one before it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from collector.settings import Settings
from collector.stats import breakdowns
from collector.stats import filtered as scopes
from collector.stats.filters import FIELDS, Filter, parse_all
from collector.stats.queries import MAX_DAYS, QueryError, bind, fetch, installed_queries

PERIODS = {"today": 1, "7d": 7, "30d": 30, "90d": 90}
# panel -> (named query, its parameters); the panels a filter cannot narrow are marked in UNFILTERED.
PANELS: dict[str, tuple[str, dict[str, str]]] = {
    "overview": ("overview", {}),
    "pages": ("pages", {"limit": "50"}),
    "entry_pages": ("entry_pages", {"limit": "50"}),
    "referrers": ("referrers", {"limit": "50"}),
    "campaigns": ("campaigns", {"limit": "50"}),
    "devices": ("devices", {"limit": "100"}),
    "os": ("os", {"limit": "50"}),
    "browsers": ("browsers", {"limit": "50"}),
    "screen_classes": ("screens", {"by": "class"}),
    "screen_sizes": ("screens", {"by": "size", "limit": "50"}),
    "languages": ("languages", {"limit": "50"}),
    "timezones": ("timezones", {"limit": "50"}),
    "events": ("events", {"limit": "100"}),
    "engagement": ("engagement", {"limit": "50"}),
    "segments": ("segments", {}),
    "third_parties": ("third_parties", {}),
    "drops": ("drops", {}),
    "retention": ("retention", {}),
}
UNFILTERED = frozenset(("segments", "third_parties", "drops", "engagement"))


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))


def period_of(params: Mapping[str, str], today: date | None = None) -> Period:
    """today, 7d, 30d (the default), 90d or custom (from, to); QueryError names a bad field."""
    today = today or datetime.now(UTC).date()
    name = params.get("period") or ("custom" if params.get("from") else "30d")
    if name in PERIODS:
        return Period(today - timedelta(days=PERIODS[name] - 1), today)
    if name != "custom":
        raise QueryError(f"period must be one of {', '.join(PERIODS)} or custom", "period")
    try:
        start = date.fromisoformat(params.get("from") or "")
    except ValueError:
        raise QueryError("from must be a date, YYYY-MM-DD", "from") from None
    try:
        end = date.fromisoformat(params["to"]) if params.get("to") else today
    except ValueError:
        raise QueryError("to must be a date, YYYY-MM-DD", "to") from None
    if start > end:
        raise QueryError("from must not be after to", "from")
    if (end - start).days >= MAX_DAYS:
        raise QueryError(f"the period is longer than {MAX_DAYS} days", "from")
    return Period(start, end)


def filters_of(params: Mapping[str, str], expressions: Sequence[str] = ()) -> tuple[Filter, ...]:
    """The filter expressions, and `NAME=VALUE` parameters as `NAME==VALUE`; FilterError names `filter`."""
    legacy = {k: v for k, v in params.items() if k in FIELDS and v != ""}
    return parse_all([e for e in expressions if e.strip()], legacy)


def build(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    site: str,
    period: Period,
    filters: Sequence[Filter],
    compare: bool,
) -> dict[str, Any]:
    """Every panel of the dashboard, with each panel's time in ms; `con` is a connection of its own."""
    started = time.perf_counter()
    breakdowns.refresh(con)
    refreshed = time.perf_counter()
    previous = period.previous() if compare else None
    report: dict[str, Any] = {
        "site": site,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "previous": {"from": previous.start.isoformat(), "to": previous.end.isoformat()} if previous else None,
        "filters": [str(f) for f in filters],
        "suppressed": None,
        "panels": {},
        "ms": {"refresh": round((refreshed - started) * 1000, 1)},
    }
    if filters:
        span_start = previous.start if previous else period.start
        try:
            with scopes.scoped(con, site, span_start, period.end, filters, _k(settings, site), period.start):
                report["ms"]["scope"] = round((time.perf_counter() - refreshed) * 1000, 1)
                if previous and scopes.floor(con, site, previous.start, previous.end) < _k(settings, site):
                    previous = None  # too few matched before: comparing would describe them
                    report["previous"] = None
                _panels(con, settings, site, period, previous, filters, report, skip=UNFILTERED)
                _goals(con, settings, site, period, report)
        except scopes.TooFew as exc:
            report["suppressed"] = str(exc)
            report["ms"]["scope"] = round((time.perf_counter() - refreshed) * 1000, 1)
        _panels(con, settings, site, period, None, (), report, only=UNFILTERED)
    else:
        _panels(con, settings, site, period, previous, (), report)
        _goals(con, settings, site, period, report)
    report["ms"]["total"] = round((time.perf_counter() - started) * 1000, 1)
    return report


def _k(settings: Settings, site: str) -> int:
    found = settings.site(site)
    return found.k_anonymity if found else 1


def _panels(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    site: str,
    period: Period,
    previous: Period | None,
    filters: Sequence[Filter],
    report: dict[str, Any],
    skip: frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
) -> None:
    queries = installed_queries()
    for panel, (name, extra) in PANELS.items():
        if panel in skip or (only is not None and panel not in only):
            continue
        report["panels"][panel] = _run(con, settings, queries[name], site, period, extra)
        report["ms"][panel] = report["panels"][panel].pop("ms")
        if panel == "overview" and previous is not None:
            report["panels"]["previous_overview"] = _run(con, settings, queries[name], site, previous, extra)
            report["ms"]["previous_overview"] = report["panels"]["previous_overview"].pop("ms")


def _goals(
    con: duckdb.DuckDBPyConnection, settings: Settings, site: str, period: Period, report: dict[str, Any]
) -> None:
    """The site's configured goals (one row each: visitors, converted, rate) and funnels (a table each)."""
    found = settings.site(site)
    if found is None or not (found.goals or found.funnels):
        return
    queries = installed_queries()
    started = time.perf_counter()
    rows = []
    for goal in found.goals:
        total = _run(con, settings, queries["conversions"], site, period, {"goal": goal.goal})["rows"][0]
        rows.append([goal.name, goal.goal, *total[2:]])
    columns = ["name", "goal", "visitors", "converted", "rate"]
    report["panels"]["goals"] = {"columns": columns, "rows": rows}
    report["panels"]["funnels"] = [
        {"name": funnel.name}
        | _without_ms(_run(con, settings, queries["funnel"], site, period, {"steps": ",".join(funnel.steps)}))
        for funnel in found.funnels
    ]
    report["ms"]["goals"] = round((time.perf_counter() - started) * 1000, 1)


def _without_ms(panel: dict[str, Any]) -> dict[str, Any]:
    panel.pop("ms")
    return panel


def _run(
    con: duckdb.DuckDBPyConnection, settings: Settings, query: Any, site: str, period: Period, extra: dict[str, str]
) -> dict[str, Any]:
    started = time.perf_counter()
    raw = {"site": site, "from": period.start.isoformat(), "to": period.end.isoformat(), **extra}
    result = fetch(con, query, bind(query, settings, raw))
    return {"columns": result.columns, "rows": result.rows, "ms": round((time.perf_counter() - started) * 1000, 1)}


def live(con: duckdb.DuckDBPyConnection, settings: Settings, site: str) -> dict[str, Any]:
    query = installed_queries()["live"]
    result = fetch(con, query, bind(query, settings, {"site": site}))
    return dict(zip(result.columns, result.rows[0], strict=True)) if result.rows else {}
