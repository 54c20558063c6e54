-- name: referrers
-- description: Visits per referring host ('(direct)' when the visit came with no external referrer)
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: limit INTEGER 100
SELECT k1 AS referrer, visits, visitors
FROM kanon_breakdown($site, 'referrer', $from, $to, $k)
ORDER BY folded, visits DESC, visitors DESC, k1, k2, k3
LIMIT $limit
