-- name: timezones
-- description: Visitors and page views per time zone
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: limit INTEGER 100
SELECT k1 AS timezone, visitors, pageviews
FROM kanon_breakdown($site, 'timezone', $from, $to, $k)
ORDER BY folded, visitors DESC, pageviews DESC, k1, k2, k3
LIMIT $limit
