-- name: third_parties
-- description: Third-party hosts that pages of a site tried to load (blocked by its Content-Security-Policy), per host and page
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
SELECT
    host,
    directive,
    page,
    sum(reports) AS reports,
    min(day) AS first_seen,
    max(day) AS last_seen
FROM third_parties
WHERE site = $site
  AND day BETWEEN $from AND $to
GROUP BY host, directive, page
ORDER BY reports DESC, host, page;
