-- name: desktop
-- description: Last seen on a desktop device.
-- refresh: 60s
SELECT visitor
FROM profiles
WHERE site = $site AND device_type = 'desktop'
