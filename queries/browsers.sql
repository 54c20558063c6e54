-- name: browsers
-- description: Visitors and page views per browser and version
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: limit INTEGER 100
SELECT k1 AS browser, k2 AS version, visitors, pageviews
FROM kanon_breakdown($site, 'browser', $from, $to, $k)
ORDER BY folded, visitors DESC, pageviews DESC, k1, k2, k3
LIMIT $limit
