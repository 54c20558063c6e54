-- name: segments
-- description: Current size of each segment of the site; segments with fewer than k members are folded into (other)
-- param: site VARCHAR
WITH sizes AS (
    SELECT s.name, any_value(s.description) AS description, count(DISTINCT m.visitor) AS members, count(DISTINCT m.visitor) >= $k AS shown
    FROM segments s
    LEFT JOIN segment_members m ON m.site = s.site AND m.segment = s.name
    WHERE s.site = $site
    GROUP BY s.name
)
SELECT * FROM (
    SELECT
        CASE WHEN shown THEN name ELSE '(other)' END AS segment,
        CASE WHEN shown THEN description END AS description,
        sum(members)::BIGINT AS members
    FROM sizes
    GROUP BY 1, 2
)
ORDER BY segment = '(other)', members DESC, segment
