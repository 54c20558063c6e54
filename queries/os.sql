-- name: os
-- description: Visitors and page views per operating system and version
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: limit INTEGER 100
SELECT k1 AS os, k2 AS version, visitors, pageviews
FROM kanon_breakdown($site, 'os', $from, $to, $k)
ORDER BY folded, visitors DESC, pageviews DESC, k1, k2, k3
LIMIT $limit
