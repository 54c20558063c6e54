-- name: engaged
-- description: Top decile of visitors by page views in the last 30 days.
-- refresh: 60s
WITH views AS (
    SELECT visitor, sum(pageviews) AS pageviews
    FROM profile_sections
    WHERE site = $site AND day > CAST($now AS DATE) - 30
    GROUP BY visitor
    HAVING sum(pageviews) > 0
)
SELECT visitor
FROM views
QUALIFY percent_rank() OVER (ORDER BY pageviews) >= 0.9
