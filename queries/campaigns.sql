-- name: campaigns
-- description: Visits per campaign (utm_source, utm_medium, utm_campaign of the visit's first event)
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: limit INTEGER 100
SELECT k1 AS source, k2 AS medium, k3 AS campaign, visits, visitors
FROM kanon_breakdown($site, 'campaign', $from, $to, $k)
ORDER BY folded, visits DESC, visitors DESC, k1, k2, k3
LIMIT $limit
