-- The events one filtered view counts: one site, the period (plus 30 minutes before it, so visits are cut
-- as the rollups cut them), and only what every given filter keeps; a NULL filter keeps everything.
-- Attribute filters keep the events that match; visit filters (path, entry_page, referrer, utm_source,
-- event) keep whole visits. Created as a temporary `events` that shadows the real table for this
-- connection only, inside a transaction that collector/scopes.py always rolls back.
CREATE TEMP TABLE events AS
WITH matching AS (
    SELECT *
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
gapped AS (
    SELECT *, ts - lag(ts) OVER (PARTITION BY visitor ORDER BY ts) AS gap
    FROM matching
    WHERE $visit_filtered
),
numbered AS (
    SELECT *,
        CASE
            WHEN visitor IS NULL THEN 0
            ELSE sum((gap IS NULL OR gap >= INTERVAL 30 MINUTE)::INT) OVER (PARTITION BY visitor ORDER BY ts ROWS UNBOUNDED PRECEDING)
        END AS visit_no
    FROM gapped
),
visits AS (
    SELECT *,
        arg_min(path, ts) OVER v AS entry_path,
        coalesce(arg_min(referrer_host, ts) OVER v, '(direct)') AS entry_referrer,
        arg_min(utm_source, ts) OVER v AS entry_utm_source,
        bool_or(name = 'pageview' AND path = $path) OVER v AS saw_path,
        bool_or(name = $event) OVER v AS saw_event
    FROM numbered
    WINDOW v AS (PARTITION BY visitor, visit_no, CASE WHEN visitor IS NULL THEN event_id END)
)
SELECT * FROM matching WHERE NOT $visit_filtered
UNION ALL
SELECT * EXCLUDE (gap, visit_no, entry_path, entry_referrer, entry_utm_source, saw_path, saw_event)
FROM visits
WHERE ($path IS NULL OR saw_path)
    AND ($entry_page IS NULL OR entry_path = $entry_page)
    AND ($referrer IS NULL OR entry_referrer = $referrer)
    AND ($utm_source IS NULL OR entry_utm_source = $utm_source)
    AND ($event IS NULL OR saw_event)
