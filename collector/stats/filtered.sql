-- The events one filtered view counts: one site, the period (plus 30 minutes before it, so visits are cut
-- as the rollups cut them), and only what every given filter keeps; a NULL filter keeps everything.
-- Attribute filters keep the events that match; visit filters (path, entry_page, referrer, utm_source,
-- event) keep whole visits. Created as a temporary `events` that shadows the real table for this
-- connection only, inside a transaction that collector/scopes.py always rolls back. Only the columns the
-- rollups read are copied (reading every column costs more than the filtering).
CREATE TEMP TABLE events AS
WITH matching AS (
    SELECT
        ts, site, name, path, referrer_host, utm_source, utm_medium, utm_campaign, visitor, consented,
        device_type, device_brand, device_model, os_name, os_version, browser_name, browser_version,
        screen_w, screen_h, language, timezone, props
    FROM db.main.events
    WHERE site = $site AND ts >= $lo - INTERVAL 30 MINUTE AND ts < $hi
        AND ($device_type IS NULL OR device_type = $device_type)
        AND ($device_brand IS NULL OR device_brand = $device_brand)
        AND ($device_model IS NULL OR device_model = $device_model)
        AND ($os_name IS NULL OR os_name = $os_name)
        AND ($browser_name IS NULL OR browser_name = $browser_name)
        AND ($screen_class IS NULL OR screen_class(screen_w) = $screen_class)
        AND ($screen_size IS NULL OR screen_w || 'x' || screen_h = $screen_size)
        AND ($language IS NULL OR language = $language)
        AND ($timezone IS NULL OR timezone = $timezone)
),
-- Visitors that could have a matching visit: each visit filter is met by one of their events.
candidates AS (
    SELECT visitor
    FROM matching
    WHERE $visit_filtered AND visitor IS NOT NULL
    GROUP BY visitor
    HAVING ($path IS NULL OR bool_or(name = 'pageview' AND path = $path))
        AND ($entry_page IS NULL OR bool_or(path = $entry_page))
        AND ($referrer IS NULL OR $referrer = '(direct)' OR bool_or(referrer_host = $referrer))
        AND ($utm_source IS NULL OR bool_or(utm_source = $utm_source))
        AND ($event IS NULL OR bool_or(name = $event))
),
numbered AS (
    SELECT *,
        sum((gap IS NULL OR gap >= INTERVAL 30 MINUTE)::INT) OVER (PARTITION BY visitor ORDER BY ts ROWS UNBOUNDED PRECEDING)
            AS visit_no
    FROM (
        SELECT m.*, m.ts - lag(m.ts) OVER (PARTITION BY m.visitor ORDER BY m.ts) AS gap
        FROM matching m SEMI JOIN candidates c ON m.visitor = c.visitor
    )
),
-- Events without a visitor are visits of their own.
visits AS (
    SELECT
        visitor,
        visit_no,
        arg_min(path, ts) AS entry_path,
        coalesce(arg_min(referrer_host, ts), '(direct)') AS entry_referrer,
        arg_min(utm_source, ts) AS entry_utm_source,
        bool_or(name = 'pageview' AND path = $path) AS saw_path,
        bool_or(name = $event) AS saw_event
    FROM numbered
    GROUP BY visitor, visit_no
),
kept AS (
    SELECT visitor, visit_no
    FROM visits
    WHERE ($path IS NULL OR saw_path)
        AND ($entry_page IS NULL OR entry_path = $entry_page)
        AND ($referrer IS NULL OR entry_referrer = $referrer)
        AND ($utm_source IS NULL OR entry_utm_source = $utm_source)
        AND ($event IS NULL OR saw_event)
)
SELECT * FROM matching WHERE NOT $visit_filtered
UNION ALL
SELECT * EXCLUDE (gap, visit_no) FROM numbered SEMI JOIN kept USING (visitor, visit_no)
UNION ALL
SELECT * FROM matching
WHERE $visit_filtered AND visitor IS NULL
    AND ($path IS NULL OR (name = 'pageview' AND path = $path))
    AND ($entry_page IS NULL OR path = $entry_page)
    AND ($referrer IS NULL OR coalesce(referrer_host, '(direct)') = $referrer)
    AND ($utm_source IS NULL OR utm_source = $utm_source)
    AND ($event IS NULL OR name = $event)
