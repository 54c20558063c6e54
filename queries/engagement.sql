-- name: engagement
-- description: Average scroll depth (%) and engaged time (s) per page, from engagement reports; pages seen by fewer than k visitors fold into (other)
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: limit INTEGER 100
WITH reports AS (
    SELECT path, ts::DATE AS day, visitor, consented, scroll_depth, engaged_ms
    FROM engagement
    WHERE site = $site AND ts >= $from::TIMESTAMP AND ts < $to::TIMESTAMP + INTERVAL 1 DAY
),
daily AS (
    SELECT
        path,
        count(DISTINCT visitor) FILTER (NOT consented) AS cookieless,
        count(DISTINCT visitor) FILTER (consented) AS consented
    FROM reports
    GROUP BY path, day
),
floors AS (
    -- As in every breakdown: cookieless visitors count once a day, consented ones by their largest day.
    SELECT path, sum(cookieless) + max(consented) AS floor FROM daily GROUP BY path
),
shown AS (
    SELECT CASE WHEN floors.floor >= $k THEN reports.path ELSE '(other)' END AS path, scroll_depth, engaged_ms
    FROM reports JOIN floors USING (path)
)
SELECT
    path,
    count(*)::BIGINT AS reports,
    round(avg(scroll_depth), 1)::DOUBLE AS avg_scroll_depth,
    round(avg(engaged_ms) / 1000, 1)::DOUBLE AS avg_engaged_seconds
FROM shown
GROUP BY path
ORDER BY path = '(other)', reports DESC, path
LIMIT $limit
