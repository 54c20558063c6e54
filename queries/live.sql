-- name: live
-- description: Visitors and page views in the last few minutes (site totals, read from the events; no breakdown)
-- param: site VARCHAR
-- param: minutes INTEGER 5
SELECT
    count(DISTINCT visitor)::BIGINT AS visitors,
    count(*) FILTER (name = 'pageview')::BIGINT AS pageviews,
    count(*)::BIGINT AS events,
    max(ts) AS last_event
FROM events
WHERE site = $site
    AND ts >= (now() AT TIME ZONE 'UTC') - to_minutes(least(greatest($minutes, 1), 60)::BIGINT)
