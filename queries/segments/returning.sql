-- name: returning
-- description: Active on 2 or more days in the last 30 days.
-- refresh: 60s
SELECT visitor
FROM profile_sections
WHERE site = $site AND day > CAST($now AS DATE) - 30
GROUP BY visitor
HAVING min(day) < max(day)
