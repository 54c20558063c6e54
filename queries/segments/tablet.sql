-- name: tablet
-- description: Last seen on a tablet device.
-- refresh: 60s
SELECT visitor
FROM profiles
WHERE site = $site AND device_type = 'tablet'
