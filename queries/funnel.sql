-- name: funnel
-- description: A funnel of 2 to 8 steps (steps=/pricing,/signup,event:signup): per step, the visitors who did the steps in order within one visit, the drop-off from the step before and the share of the first step; a step reached by fewer than k visitors shows no numbers
-- filterable: events
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: steps VARCHAR
WITH RECURSIVE steps AS (
    SELECT unnest($steps) AS goal, generate_subscripts($steps, 1) AS step
),
e AS (
    SELECT visitor, ts, name, path
    FROM events
    WHERE site = $site AND ts >= $from::TIMESTAMP - INTERVAL 30 MINUTE AND ts < $to::TIMESTAMP + INTERVAL 1 DAY
        AND visitor IS NOT NULL
),
-- Only visitors who did the first step in the period can enter the funnel; their visits are cut here.
entrants AS (
    SELECT DISTINCT visitor
    FROM e
    WHERE ts >= $from::TIMESTAMP AND CASE
        WHEN starts_with($steps[1], 'event:') THEN name = substr($steps[1], 7)
        ELSE name = 'pageview' AND path = $steps[1]
    END
),
numbered AS (
    SELECT *, sum(starts::INT) OVER (PARTITION BY visitor ORDER BY ts ROWS UNBOUNDED PRECEDING) AS visit_no
    FROM (
        SELECT e.*, coalesce(ts - lag(ts) OVER (PARTITION BY visitor ORDER BY ts) >= INTERVAL 30 MINUTE, true) AS starts
        FROM e SEMI JOIN entrants USING (visitor)
    )
),
hits AS (
    SELECT n.visitor, n.visit_no, n.ts, s.step
    FROM numbered n JOIN steps s ON CASE
        WHEN starts_with(s.goal, 'event:') THEN n.name = substr(s.goal, 7)
        ELSE n.name = 'pageview' AND n.path = s.goal
    END
    WHERE n.ts >= $from::TIMESTAMP
),
-- Each visit's earliest first step, then the earliest next step after it, and so on.
walk(visitor, visit_no, step, reached) AS (
    SELECT visitor, visit_no, 1, min(ts) FROM hits WHERE step = 1 GROUP BY visitor, visit_no
    UNION ALL
    SELECT w.visitor, w.visit_no, w.step + 1, min(h.ts)
    FROM walk w
    JOIN hits h ON h.visitor = w.visitor AND h.visit_no = w.visit_no AND h.step = w.step + 1 AND h.ts > w.reached
    GROUP BY w.visitor, w.visit_no, w.step
),
progress AS (
    SELECT step, count(DISTINCT visitor) AS visitors FROM walk GROUP BY step
),
counted AS (
    -- No one describes no one: a zero is shown; a count from 1 to k - 1 is not.
    SELECT s.step, s.goal, coalesce(p.visitors, 0) AS visitors, coalesce(p.visitors, 0) NOT BETWEEN 1 AND $k - 1 AS shown
    FROM steps s LEFT JOIN progress p USING (step)
)
SELECT
    step,
    CASE WHEN starts_with(goal, 'event:') THEN substr(goal, 7) ELSE goal END AS goal,
    CASE WHEN goal LIKE 'event:%' THEN 'event' ELSE 'page' END AS kind,
    CASE WHEN shown THEN visitors END::BIGINT AS visitors,
    CASE WHEN shown AND lag(shown) OVER w THEN lag(visitors) OVER w - visitors END::BIGINT AS dropped,
    CASE WHEN shown AND first_value(visitors) OVER w > 0 THEN round(visitors / first_value(visitors) OVER w, 4) END::DOUBLE
        AS of_first
FROM counted
WINDOW w AS (ORDER BY step)
ORDER BY step
