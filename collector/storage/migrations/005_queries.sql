-- Daily rollups for the named queries: one row per site, day, dimension and value, rebuilt from the events
-- of a day whenever that day's event count moved (collector/breakdowns.py). Visitors are counted per day, split into
-- cookieless hashes (which rotate daily, so they never repeat across days) and consented ones (which can).
CREATE TABLE daily_breakdowns (
    site VARCHAR NOT NULL,
    day DATE NOT NULL,
    dimension VARCHAR NOT NULL,
    k1 VARCHAR,
    k2 VARCHAR,
    k3 VARCHAR,
    pageviews BIGINT NOT NULL,
    events BIGINT NOT NULL,
    visits BIGINT NOT NULL,
    cookieless BIGINT NOT NULL,
    consented BIGINT NOT NULL,
    anonymous BIGINT NOT NULL
);

-- Which days the rollups were built from, and from how many events.
CREATE TABLE rollup_days (
    day DATE PRIMARY KEY,
    events BIGINT NOT NULL,
    refreshed_at TIMESTAMP NOT NULL,
    refresh_ms DOUBLE NOT NULL
);

-- k-anonymity for every breakdown: a value whose visitors could be fewer than k is folded into '(other)'.
-- The visitor floor counts cookieless visitors per day (they cannot be linked across days) plus the largest
-- daily count of consented visitors (the same consented person may come back on several days). Events
-- without a visitor (GPC/DNT) never help a value reach k.
CREATE MACRO kanon_breakdown(p_site, p_dimension, p_from, p_to, p_k) AS TABLE
WITH grouped AS (
    SELECT
        k1, k2, k3,
        sum(pageviews) AS pageviews,
        sum(events) AS events,
        sum(visits) AS visits,
        sum(cookieless) + sum(consented) AS visitors,
        sum(cookieless) + max(consented) AS visitor_floor
    FROM daily_breakdowns
    WHERE site = p_site AND dimension = p_dimension AND day BETWEEN p_from AND p_to
    GROUP BY k1, k2, k3
)
SELECT
    CASE WHEN visitor_floor >= p_k THEN k1 ELSE '(other)' END AS k1,
    CASE WHEN visitor_floor >= p_k THEN k2 END AS k2,
    CASE WHEN visitor_floor >= p_k THEN k3 END AS k3,
    visitor_floor < p_k AS folded,
    sum(visitors)::BIGINT AS visitors,
    sum(pageviews)::BIGINT AS pageviews,
    sum(events)::BIGINT AS events,
    sum(visits)::BIGINT AS visits
FROM grouped
GROUP BY ALL;

-- Minimal segment tables so the segments query runs; the segments migration (006) extends them.
CREATE TABLE IF NOT EXISTS segments (
    site VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    description VARCHAR
);

CREATE TABLE IF NOT EXISTS segment_members (
    site VARCHAR NOT NULL,
    segment VARCHAR NOT NULL,
    visitor UBIGINT NOT NULL,
    computed_at TIMESTAMP NOT NULL
);
