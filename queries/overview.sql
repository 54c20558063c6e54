-- name: overview
-- description: Visitors, page views, visits and views per visit, by day (every day of the period, zeros included)
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
WITH days AS (
    SELECT d::DATE AS day FROM generate_series($from::TIMESTAMP, $to::TIMESTAMP, INTERVAL 1 DAY) AS t(d)
),
totals AS (
    SELECT
        day,
        sum(cookieless) + sum(consented) AS visitors,
        sum(pageviews) AS pageviews,
        sum(visits) AS visits,
        sum(pageviews) - sum(anonymous) AS visit_pageviews
    FROM daily_breakdowns
    WHERE site = $site AND dimension = 'total' AND day BETWEEN $from AND $to
    GROUP BY day
)
SELECT
    days.day,
    coalesce(visitors, 0)::BIGINT AS visitors,
    coalesce(pageviews, 0)::BIGINT AS pageviews,
    coalesce(visits, 0)::BIGINT AS visits,
    round(visit_pageviews / nullif(visits, 0), 2)::DOUBLE AS views_per_visit
FROM days
LEFT JOIN totals USING (day)
ORDER BY days.day
