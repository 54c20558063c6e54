-- statement: visits
-- The visits the visit filters keep, as (visitor, first event, last event): cut from a narrow read of the
-- period (visitor, time and one flag per visit filter), so the sort by visitor and time moves few bytes.
-- The period starts 30 minutes early, so visits are cut as the rollups cut them. Conditions come from
-- collector/stats/filters.py (column expressions of its fixed table) and stand where the /*events*/,
-- /*flags*/, /*candidates*/ and /*visits*/ markers are; every value is a variable set from a bound parameter.
CREATE TEMP TABLE scope_visits AS
WITH flagged AS (
    SELECT visitor, ts, /*flags*/
    FROM db.main.events
    WHERE site = getvariable('scope_site')
        AND ts >= getvariable('scope_lo') - INTERVAL 30 MINUTE AND ts < getvariable('scope_hi')
        AND visitor IS NOT NULL AND (/*events*/)
),
-- Visitors that could have a matching visit: each positive visit filter is met by one of their events.
candidates AS (
    SELECT visitor FROM flagged GROUP BY visitor HAVING /*candidates*/
),
numbered AS (
    SELECT *, sum(starts::INT) OVER (PARTITION BY visitor ORDER BY ts ROWS UNBOUNDED PRECEDING) AS visit_no
    FROM (
        SELECT f.*, coalesce(ts - lag(ts) OVER (PARTITION BY visitor ORDER BY ts) >= INTERVAL 30 MINUTE, true) AS starts
        FROM flagged f SEMI JOIN candidates USING (visitor)
    )
)
SELECT visitor, min(ts) AS first_ts, max(ts) AS last_ts
FROM numbered
GROUP BY visitor, visit_no
HAVING /*visits*/;

-- statement: events
-- The events a filtered view counts, as a temporary view `events` that shadows the real table for this
-- connection only: one site, the period, what the event filters keep (/*events*/). A view rather than a
-- copy, so each rollup reads only the columns it needs and zone maps skip to the period.
CREATE TEMP VIEW events AS
SELECT *
FROM db.main.events
WHERE site = getvariable('scope_site')
    AND ts >= getvariable('scope_lo') - INTERVAL 30 MINUTE AND ts < getvariable('scope_hi')
    AND (/*events*/);

-- statement: visit_events
-- The same with visit filters: the events of the kept visits, and the visitor-less events (each a visit
-- of its own) that the visit filters keep (/*row*/).
CREATE TEMP VIEW events AS
SELECT e.*
FROM db.main.events e JOIN scope_visits k ON e.visitor = k.visitor AND e.ts BETWEEN k.first_ts AND k.last_ts
WHERE e.site = getvariable('scope_site')
    AND e.ts >= getvariable('scope_lo') - INTERVAL 30 MINUTE AND e.ts < getvariable('scope_hi')
    AND (/*events*/)
UNION ALL
SELECT *
FROM db.main.events
WHERE site = getvariable('scope_site')
    AND ts >= getvariable('scope_lo') - INTERVAL 30 MINUTE AND ts < getvariable('scope_hi')
    AND visitor IS NULL AND (/*events*/) AND (/*row*/);

-- statement: direct
-- One attribute dimension of the scope's rollups, grouped straight from the matching events: the rows the
-- attributes family of breakdowns.sql builds for it (the same keys, counts and distinct visitors), without
-- collapsing each visitor's day over every attribute column first. /*key*/ is that dimension's key struct
-- from breakdowns.sql; $lo and $hi are bound.
INSERT INTO daily_breakdowns
SELECT
    site, day, dimension, k1, k2, k3,
    count(*) FILTER (is_pv) AS pageviews,
    count(*) AS events,
    0 AS visits,
    count(DISTINCT visitor) FILTER (NOT consented) AS cookieless,
    count(DISTINCT visitor) FILTER (consented) AS consented,
    count(*) FILTER (visitor IS NULL) AS anonymous
FROM (
    SELECT site, day, is_pv, visitor, consented, unnest(/*key*/)
    FROM (
        SELECT *, ts::DATE AS day, name = 'pageview' AS is_pv, screen_class(screen_w) AS screen_class
        FROM events
        WHERE ts >= $lo AND ts < $hi
    )
)
GROUP BY ALL;

-- statement: lower_floor
-- A floor under the scope's distinct visitors from the rows it has built, before any site totals: each row
-- counts a subset of its day's visitors, so the day's largest cookieless count, summed over the days, plus
-- the largest consented count, is at most what the site totals would give. When it reaches k, the scope
-- needs no site totals of its own.
SELECT coalesce(sum(cookieless), 0) + coalesce(max(consented), 0)
FROM (
    SELECT day, max(cookieless) AS cookieless, max(consented) AS consented
    FROM daily_breakdowns
    WHERE site = $site AND day BETWEEN $start AND $end
    GROUP BY day
);
