"""Profiles of consented visitors, kept current by a writer hook in the same transaction as their events.

The hook runs inside the loader's transaction while the batch is registered as `_batch`. Only events
with a consented id count: cookieless visitors (a daily hash) and GPC/DNT visitors (no id at all) never
get a profile. Each statement aggregates the batch per key first, because an upsert that holds the
same key twice keeps only one of the rows.
"""

from __future__ import annotations

import duckdb

VISIT_GAP_SECONDS = 30 * 60

_CONSENTED = "FROM _batch WHERE consented AND visitor IS NOT NULL AND NOT anonymous"
_SECTION = "left(lower(split_part(ltrim(coalesce(path, ''), '/'), '/', 1)), 64)"
_SCREEN = "CASE WHEN screen_w < 768 THEN 'small' WHEN screen_w < 1280 THEN 'medium' ELSE 'large' END"
_LAST = ("device_type", "device_brand", "device_model", "os_name", "browser_name", "language", "timezone")
_FIRST = ("referrer_host", "utm_source", "utm_medium", "utm_campaign")

# A batch's visits and days count from its own first event; that first one merges with the stored
# profile when it falls in the same visit (within the gap) or on the same day as the last one seen.
UPSERT_PROFILES = f"""
INSERT INTO profiles (
    site, visitor, first_seen, last_seen, days_active, visits, pageviews, events, {", ".join(_LAST)},
    screen_class, {", ".join("first_" + c for c in _FIRST)}
)
WITH b AS (
    SELECT *, ts - lag(ts) OVER (PARTITION BY site, visitor ORDER BY ts) AS gap {_CONSENTED}
)
SELECT
    site, visitor, min(ts), max(ts), count(DISTINCT ts::DATE),
    1 + count(*) FILTER (WHERE gap > INTERVAL {VISIT_GAP_SECONDS} SECOND),
    count(*) FILTER (WHERE name = 'pageview'), count(*) FILTER (WHERE name <> 'pageview'),
    {", ".join(f"arg_max({c}, ts)" for c in _LAST)},
    arg_max({_SCREEN}, ts) FILTER (WHERE screen_w IS NOT NULL),
    {", ".join(f"arg_min_null({c}, ts)" for c in _FIRST)}
FROM b
GROUP BY site, visitor
ON CONFLICT DO UPDATE SET
    last_seen = greatest(profiles.last_seen, EXCLUDED.last_seen),
    days_active = profiles.days_active + EXCLUDED.days_active
        - CASE WHEN EXCLUDED.first_seen::DATE = profiles.last_seen::DATE THEN 1 ELSE 0 END,
    visits = profiles.visits + EXCLUDED.visits
        - CASE WHEN EXCLUDED.first_seen - profiles.last_seen <= INTERVAL {VISIT_GAP_SECONDS} SECOND THEN 1 ELSE 0 END,
    pageviews = profiles.pageviews + EXCLUDED.pageviews,
    events = profiles.events + EXCLUDED.events,
    {", ".join(f"{c} = coalesce(EXCLUDED.{c}, profiles.{c})" for c in (*_LAST, "screen_class"))}
"""
UPSERT_SECTIONS = f"""
INSERT INTO profile_sections
SELECT site, visitor, ts::DATE, {_SECTION}, count(*) FILTER (WHERE name = 'pageview'),
       count(*) FILTER (WHERE name <> 'pageview')
{_CONSENTED}
GROUP BY ALL
ON CONFLICT DO UPDATE SET
    pageviews = profile_sections.pageviews + EXCLUDED.pageviews,
    events = profile_sections.events + EXCLUDED.events
"""
UPSERT_EVENTS = f"""
INSERT INTO profile_events
SELECT site, visitor, ts::DATE, name, count(*) {_CONSENTED} AND name <> 'pageview'
GROUP BY ALL
ON CONFLICT DO UPDATE SET events = profile_events.events + EXCLUDED.events
"""
_ANY = f"SELECT count(*) {_CONSENTED}"


def update_profiles(con: duckdb.DuckDBPyConnection) -> None:
    """The writer hook: upsert the batch's consented visitors into profiles, profile_sections, profile_events."""
    row = con.execute(_ANY).fetchone()
    if not row or not row[0]:
        return
    con.execute(UPSERT_PROFILES)
    con.execute(UPSERT_SECTIONS)
    con.execute(UPSERT_EVENTS)
