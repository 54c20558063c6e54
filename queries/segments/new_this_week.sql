-- name: new_this_week
-- description: First seen in the last 7 days.
-- refresh: 60s
SELECT visitor
FROM profiles
WHERE site = $site AND first_seen > $now - INTERVAL 7 DAY
