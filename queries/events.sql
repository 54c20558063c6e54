-- name: events
-- description: Custom events per name (prop and value empty), then per name, property and value
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: limit INTEGER 100
SELECT k1 AS event, k2 AS prop, k3 AS value, events, visitors
FROM (
    SELECT * FROM kanon_breakdown($site, 'event', $from, $to, $k)
    UNION ALL
    SELECT * FROM kanon_breakdown($site, 'event_prop', $from, $to, $k)
)
ORDER BY k1 = '(other)', k1, k2 IS NOT NULL, folded, events DESC, k2, k3
LIMIT $limit
