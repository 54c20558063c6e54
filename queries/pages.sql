-- name: pages
-- description: Page views and visitors per path
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: limit INTEGER 100
SELECT k1 AS path, visitors, pageviews
FROM kanon_breakdown($site, 'page', $from, $to, $k)
ORDER BY folded, visitors DESC, pageviews DESC, k1, k2, k3
LIMIT $limit
