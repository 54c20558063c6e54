-- name: languages
-- description: Visitors and page views per browser language
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: limit INTEGER 100
SELECT k1 AS language, visitors, pageviews
FROM kanon_breakdown($site, 'language', $from, $to, $k)
ORDER BY folded, visitors DESC, pageviews DESC, k1, k2, k3
LIMIT $limit
