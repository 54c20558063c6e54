-- name: did_{name}
-- description: Sent a custom event in the last 30 days (did_signup, did_add_to_cart, ...).
-- refresh: 60s
SELECT DISTINCT visitor, name
FROM profile_events
WHERE site = $site AND day > CAST($now AS DATE) - 30
