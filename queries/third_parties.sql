-- name: third_parties
-- description: Third-party hosts a site's pages tried to load (blocked by its Content-Security-Policy), per host, directive and page; rows with fewer than k reports are folded into (other)
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
WITH grouped AS (
    SELECT host, directive, page, sum(reports) AS reports, min(day) AS first_seen, max(day) AS last_seen,
        sum(reports) >= $k AS shown
    FROM third_parties
    WHERE site = $site AND day BETWEEN $from AND $to
    GROUP BY host, directive, page
)
SELECT * FROM (
    SELECT
        CASE WHEN shown THEN host ELSE '(other)' END AS host,
        CASE WHEN shown THEN directive END AS directive,
        CASE WHEN shown THEN page END AS page,
        sum(reports)::BIGINT AS reports,
        min(first_seen) AS first_seen,
        max(last_seen) AS last_seen
    FROM grouped
    GROUP BY 1, 2, 3
)
ORDER BY host = '(other)', reports DESC, host, page
