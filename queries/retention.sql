-- name: retention
-- description: Weekly cohorts of consented visitors by the week (Monday) they were first seen, with the share active in each later week; cohorts of fewer than k visitors are folded into (other). Cookieless visitors cannot be followed across days (their salt changes daily): a last row says so instead of showing zeros
-- filterable: events
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
WITH weeks AS (
    SELECT visitor, date_trunc('week', ts)::DATE AS week
    FROM events
    WHERE site = $site AND ts < $to::TIMESTAMP + INTERVAL 1 DAY AND consented AND visitor IS NOT NULL
    GROUP BY ALL
),
cohorts AS (
    SELECT visitor, min(week) AS cohort FROM weeks GROUP BY visitor
    HAVING min(week) >= date_trunc('week', $from::DATE)
),
sized AS (
    SELECT c.cohort, count(*) OVER (PARTITION BY c.cohort) AS size, c.visitor FROM cohorts c
),
active AS (
    SELECT
        CASE WHEN s.size >= $k THEN strftime(s.cohort, '%Y-%m-%d') ELSE '(other)' END AS cohort,
        ((w.week - s.cohort) // 7)::INT AS week,
        count(DISTINCT s.visitor) AS active
    FROM sized s JOIN weeks w USING (visitor)
    GROUP BY ALL
),
sizes AS (
    SELECT CASE WHEN size >= $k THEN strftime(cohort, '%Y-%m-%d') ELSE '(other)' END AS cohort, count(*) AS visitors
    FROM sized
    GROUP BY ALL
)
SELECT * FROM (
    SELECT cohort, week, visitors::BIGINT AS visitors, active::BIGINT AS active,
        round(active / visitors, 4)::DOUBLE AS share, NULL AS note
    FROM active JOIN sizes USING (cohort)
    ORDER BY cohort = '(other)', cohort, week
)
UNION ALL
SELECT '(cookieless)', NULL, NULL, NULL, NULL,
    'cookieless visitors are not followed: their daily salt changes, so a later week cannot recognise them'
