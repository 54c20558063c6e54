-- name: mobile
-- description: Last seen on a mobile device.
-- refresh: 60s
SELECT visitor
FROM profiles
WHERE site = $site AND device_type = 'mobile'
