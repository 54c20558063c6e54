-- name: devices
-- description: Visitors and page views per device type, brand and model
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: limit INTEGER 100
SELECT k1 AS type, k2 AS brand, k3 AS model, visitors, pageviews
FROM kanon_breakdown($site, 'device', $from, $to, $k)
ORDER BY folded, visitors DESC, pageviews DESC, k1, k2, k3
LIMIT $limit
