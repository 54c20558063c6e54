-- name: interested_{section}
-- description: 3 or more page views in a top-level section (/shoes/... -> interested_shoes) in the last 14 days.
-- refresh: 60s
SELECT visitor, section
FROM profile_sections
WHERE site = $site AND day > CAST($now AS DATE) - 14 AND section <> ''
GROUP BY visitor, section
HAVING sum(pageviews) >= 3
