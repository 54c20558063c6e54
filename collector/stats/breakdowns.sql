-- Rebuild the daily breakdowns of every site for the events in [$lo, $hi). Run by collector/stats/breakdowns.py
-- after deleting the same days; a visit is one visitor's events with gaps under 30 minutes. Each family of
-- rows is one CTE named in FAMILIES there; the marker at the end becomes the UNION ALL of the families wanted
-- (a filtered scope builds only those its queries read; CTEs left unread are never computed).
INSERT INTO daily_breakdowns
WITH e AS (
    SELECT *, ts::DATE AS day, name = 'pageview' AS is_pv
    FROM events
    WHERE ts >= $lo AND ts < $hi
),
gaps AS (
    SELECT
        site, visitor, consented, ts, path, referrer_host, utm_source, utm_medium, utm_campaign,
        ts - lag(ts) OVER (PARTITION BY site, visitor ORDER BY ts) AS gap
    FROM events
    WHERE ts >= $lo - INTERVAL 30 MINUTE AND ts < $hi AND visitor IS NOT NULL
),
entries AS (
    SELECT *, ts::DATE AS day
    FROM gaps
    WHERE ts >= $lo AND (gap IS NULL OR gap >= INTERVAL 30 MINUTE)
),
totals AS (
    SELECT
        site, day,
        count(*) FILTER (is_pv) AS pageviews,
        count(*) AS events,
        count(DISTINCT visitor) FILTER (NOT consented) AS cookieless,
        count(DISTINCT visitor) FILTER (consented) AS consented,
        count(*) FILTER (is_pv AND visitor IS NULL) AS anonymous
    FROM e
    GROUP BY site, day
),
visit_totals AS (
    SELECT site, day, count(*) AS visits FROM entries GROUP BY site, day
),
per_visitor AS (
    -- Attributes rarely change within a visitor's day: collapse first, then fan out per dimension.
    SELECT
        site, day, visitor, consented, device_type, device_brand, device_model, os_name, os_version,
        browser_name, browser_version, screen_w, screen_h, language, timezone,
        count(*) FILTER (is_pv) AS pageviews,
        count(*) AS events
    FROM e
    GROUP BY ALL
),
attributes AS (
    SELECT
        site, day, dimension, k1, k2, k3,
        sum(pageviews) AS pageviews,
        sum(events) AS events,
        0 AS visits,
        count(DISTINCT visitor) FILTER (NOT consented) AS cookieless,
        count(DISTINCT visitor) FILTER (consented) AS consented,
        coalesce(sum(events) FILTER (visitor IS NULL), 0) AS anonymous
    FROM (
        SELECT
            site, day, visitor, consented, pageviews, events,
            unnest([
                {'dimension': 'device', 'k1': device_type, 'k2': device_brand, 'k3': device_model},
                {'dimension': 'os', 'k1': os_name, 'k2': os_version, 'k3': NULL},
                {'dimension': 'browser', 'k1': browser_name, 'k2': browser_version, 'k3': NULL},
                {'dimension': 'screen', 'k1': screen_w || 'x' || screen_h, 'k2': screen_class, 'k3': NULL},
                {'dimension': 'screen_class', 'k1': screen_class, 'k2': NULL, 'k3': NULL},
                {'dimension': 'language', 'k1': language, 'k2': NULL, 'k3': NULL},
                {'dimension': 'timezone', 'k1': timezone, 'k2': NULL, 'k3': NULL}
            ], recursive := true)
        FROM (
            SELECT *, screen_class(screen_w) AS screen_class
            FROM per_visitor
        )
    )
    GROUP BY ALL
),
pages AS (
    SELECT
        site, day, 'page' AS dimension, path AS k1, NULL AS k2, NULL AS k3,
        count(*) AS pageviews, count(*) AS events, 0 AS visits,
        count(DISTINCT visitor) FILTER (NOT consented) AS cookieless,
        count(DISTINCT visitor) FILTER (consented) AS consented,
        count(*) FILTER (visitor IS NULL) AS anonymous
    FROM e
    WHERE is_pv
    GROUP BY ALL
),
custom AS (
    SELECT
        site, day, 'event' AS dimension, name AS k1, NULL AS k2, NULL AS k3,
        0 AS pageviews, count(*) AS events, 0 AS visits,
        count(DISTINCT visitor) FILTER (NOT consented) AS cookieless,
        count(DISTINCT visitor) FILTER (consented) AS consented,
        count(*) FILTER (visitor IS NULL) AS anonymous
    FROM e
    WHERE NOT is_pv
    GROUP BY ALL
),
props AS (
    SELECT
        site, day, 'event_prop' AS dimension, name AS k1, key AS k2, props ->> key AS k3,
        0 AS pageviews, count(*) AS events, 0 AS visits,
        count(DISTINCT visitor) FILTER (NOT consented) AS cookieless,
        count(DISTINCT visitor) FILTER (consented) AS consented,
        count(*) FILTER (visitor IS NULL) AS anonymous
    FROM (SELECT *, unnest(json_keys(props)) AS key FROM e WHERE NOT is_pv AND props IS NOT NULL)
    GROUP BY ALL
),
visit_starts AS (
    SELECT
        site, day, dimension, k1, k2, k3,
        0 AS pageviews, 0 AS events, count(*) AS visits,
        count(DISTINCT visitor) FILTER (NOT consented) AS cookieless,
        count(DISTINCT visitor) FILTER (consented) AS consented,
        0 AS anonymous
    FROM (
        SELECT
            site, day, visitor, consented,
            unnest([
                {'dimension': 'entry_page', 'k1': path, 'k2': NULL, 'k3': NULL},
                {'dimension': 'referrer', 'k1': coalesce(referrer_host, '(direct)'), 'k2': NULL, 'k3': NULL},
                {'dimension': 'campaign', 'k1': utm_source, 'k2': utm_medium, 'k3': utm_campaign}
            ], recursive := true)
        FROM entries
    )
    WHERE dimension != 'campaign' OR coalesce(k1, k2, k3) IS NOT NULL
    GROUP BY ALL
),
total AS (
    SELECT t.site, t.day, 'total' AS dimension, NULL AS k1, NULL AS k2, NULL AS k3, t.pageviews, t.events,
        coalesce(v.visits, 0) AS visits, t.cookieless, t.consented, t.anonymous
    FROM totals t LEFT JOIN visit_totals v USING (site, day)
),
-- The site totals without their visits (cutting visits sorts every visitor's events): what a filtered scope
-- needs for its floor when none of its queries reads the totals.
site_counts AS (
    SELECT site, day, 'total' AS dimension, NULL AS k1, NULL AS k2, NULL AS k3, pageviews, events,
        0 AS visits, cookieless, consented, anonymous
    FROM totals
)
/*families*/
