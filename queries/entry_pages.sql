-- name: entry_pages
-- description: Visits that began on each path, and their visitors
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: limit INTEGER 100
SELECT k1 AS path, visits, visitors
FROM kanon_breakdown($site, 'entry_page', $from, $to, $k)
ORDER BY folded, visits DESC, visitors DESC, k1, k2, k3
LIMIT $limit
