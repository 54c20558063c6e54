"""Profiles of consented visitors, kept current by a writer hook in the same transaction as their events.

Only events with a consented id get a profile: cookieless visitors (a daily hash) and GPC/DNT visitors
(no id at all) never do. The batch is aggregated per visitor here first, because an upsert that holds
the same key twice keeps only one of the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb
import pyarrow as pa

from collector.events import Event

VISIT_GAP = timedelta(minutes=30)
PAGEVIEW = "pageview"
MAX_SECTION = 64

_ATTRIBUTES = (
    "device_type",
    "device_brand",
    "device_model",
    "os_name",
    "browser_name",
    "screen_class",
    "language",
    "timezone",
)
_FIRST = ("first_referrer_host", "first_utm_source", "first_utm_medium", "first_utm_campaign")
_PROFILE_COLUMNS = (
    "site",
    "visitor",
    "first_seen",
    "last_seen",
    "days_active",
    "visits",
    "pageviews",
    "events",
    *_ATTRIBUTES,
    *_FIRST,
)
_PROFILE_SCHEMA = pa.schema(
    [
        ("site", pa.string()),
        ("visitor", pa.uint64()),
        ("first_seen", pa.timestamp("us")),
        ("last_seen", pa.timestamp("us")),
        ("days_active", pa.int32()),
        ("visits", pa.int32()),
        ("pageviews", pa.int64()),
        ("events", pa.int64()),
        *[(name, pa.string()) for name in (*_ATTRIBUTES, *_FIRST)],
    ]
)
_SECTION_SCHEMA = pa.schema(
    [
        ("site", pa.string()),
        ("visitor", pa.uint64()),
        ("day", pa.date32()),
        ("section", pa.string()),
        ("pageviews", pa.int64()),
        ("events", pa.int64()),
    ]
)
_EVENT_SCHEMA = pa.schema(
    [
        ("site", pa.string()),
        ("visitor", pa.uint64()),
        ("day", pa.date32()),
        ("name", pa.string()),
        ("events", pa.int64()),
    ]
)

_keep_last = ",\n    ".join(f"{a} = coalesce(EXCLUDED.{a}, profiles.{a})" for a in _ATTRIBUTES)
# A batch's visits and days count from its own first event; the first one merges with the stored
# profile when it falls in the same visit (within VISIT_GAP) or on the same day as the last one seen.
UPSERT_PROFILES = f"""
INSERT INTO profiles ({", ".join(_PROFILE_COLUMNS)}) SELECT {", ".join(_PROFILE_COLUMNS)} FROM _profiles_batch
ON CONFLICT DO UPDATE SET
    last_seen = greatest(profiles.last_seen, EXCLUDED.last_seen),
    days_active = profiles.days_active + EXCLUDED.days_active
        - CASE WHEN EXCLUDED.first_seen::DATE = profiles.last_seen::DATE THEN 1 ELSE 0 END,
    visits = profiles.visits + EXCLUDED.visits
        - CASE WHEN EXCLUDED.first_seen - profiles.last_seen <= INTERVAL {int(VISIT_GAP.total_seconds())} SECOND
          THEN 1 ELSE 0 END,
    pageviews = profiles.pageviews + EXCLUDED.pageviews,
    events = profiles.events + EXCLUDED.events,
    {_keep_last}
"""
UPSERT_SECTIONS = """
INSERT INTO profile_sections SELECT site, visitor, day, section, pageviews, events FROM _sections_batch
ON CONFLICT DO UPDATE SET
    pageviews = profile_sections.pageviews + EXCLUDED.pageviews,
    events = profile_sections.events + EXCLUDED.events
"""
UPSERT_EVENTS = """
INSERT INTO profile_events SELECT site, visitor, day, name, events FROM _events_batch
ON CONFLICT DO UPDATE SET events = profile_events.events + EXCLUDED.events
"""


def section_of(path: str | None) -> str:
    """The top-level path section: '/shoes/red' -> 'shoes'; the root is ''."""
    if not path:
        return ""
    return path.lstrip("/").split("/", 1)[0].lower()[:MAX_SECTION]


def screen_class(width: int | None) -> str | None:
    if width is None:
        return None
    return "small" if width < 768 else "medium" if width < 1280 else "large"


@dataclass(slots=True)
class _Profile:
    site: str
    visitor: int
    first_seen: datetime
    last_seen: datetime
    days: set[date]
    visits: int = 1
    pageviews: int = 0
    events: int = 0
    attributes: dict[str, str | None] = field(default_factory=dict)
    first: dict[str, str | None] = field(default_factory=dict)


def _attributes(e: Event) -> dict[str, str | None]:
    return {
        "device_type": e.device_type,
        "device_brand": e.device_brand,
        "device_model": e.device_model,
        "os_name": e.os_name,
        "browser_name": e.browser_name,
        "screen_class": screen_class(e.screen_w),
        "language": e.language,
        "timezone": e.timezone,
    }


def aggregate(
    events: Sequence[Event],
) -> tuple[list[_Profile], dict[tuple[str, int, date, str], list[int]], dict[tuple[str, int, date, str], int]]:
    """Fold a batch into one row per (site, visitor), plus per-day section and custom-event counts."""
    profiles: dict[tuple[str, int], _Profile] = {}
    sections: dict[tuple[str, int, date, str], list[int]] = {}
    names: dict[tuple[str, int, date, str], int] = {}
    for e in sorted((e for e in events if e.consented and e.visitor is not None and not e.anonymous), key=_ts):
        assert e.visitor is not None
        ts = e.ts.replace(tzinfo=None)
        day = ts.date()
        key = (e.site, e.visitor)
        p = profiles.get(key)
        if p is None:
            p = profiles[key] = _Profile(e.site, e.visitor, ts, ts, {day})
            p.first = {
                "first_referrer_host": e.referrer_host,
                "first_utm_source": e.utm.get("utm_source"),
                "first_utm_medium": e.utm.get("utm_medium"),
                "first_utm_campaign": e.utm.get("utm_campaign"),
            }
        else:
            if ts - p.last_seen > VISIT_GAP:
                p.visits += 1
            p.last_seen = ts
            p.days.add(day)
        for name, value in _attributes(e).items():
            if value is not None or name not in p.attributes:
                p.attributes[name] = value
        counts = sections.setdefault((e.site, e.visitor, day, section_of(e.path)), [0, 0])
        if e.name == PAGEVIEW:
            p.pageviews += 1
            counts[0] += 1
        else:
            p.events += 1
            counts[1] += 1
            names[(e.site, e.visitor, day, e.name)] = names.get((e.site, e.visitor, day, e.name), 0) + 1
    return list(profiles.values()), sections, names


def _ts(e: Event) -> datetime:
    return e.ts


def update_profiles(con: duckdb.DuckDBPyConnection, events: Sequence[Event]) -> None:
    """The writer hook: upsert the batch's consented visitors into profiles, profile_sections, profile_events."""
    profiles, sections, names = aggregate(events)
    if not profiles:
        return
    rows: dict[str, list[object]] = {name: [] for name in _PROFILE_COLUMNS}
    for p in profiles:
        values: dict[str, object] = {
            "site": p.site,
            "visitor": p.visitor,
            "first_seen": p.first_seen,
            "last_seen": p.last_seen,
            "days_active": len(p.days),
            "visits": p.visits,
            "pageviews": p.pageviews,
            "events": p.events,
            **p.attributes,
            **p.first,
        }
        for name in _PROFILE_COLUMNS:
            rows[name].append(values[name])
    batches = {
        "_profiles_batch": (pa.Table.from_pydict(rows, schema=_PROFILE_SCHEMA), UPSERT_PROFILES),
        "_sections_batch": (
            pa.Table.from_pylist(
                [
                    {"site": s, "visitor": v, "day": d, "section": sec, "pageviews": c[0], "events": c[1]}
                    for (s, v, d, sec), c in sections.items()
                ],
                schema=_SECTION_SCHEMA,
            ),
            UPSERT_SECTIONS,
        ),
    }
    if names:
        batches["_events_batch"] = (
            pa.Table.from_pylist(
                [{"site": s, "visitor": v, "day": d, "name": n, "events": c} for (s, v, d, n), c in names.items()],
                schema=_EVENT_SCHEMA,
            ),
            UPSERT_EVENTS,
        )
    for view, (table, sql) in batches.items():
        con.register(view, table)
        try:
            con.execute(sql)
        finally:
            con.unregister(view)
