-- name: drops
-- description: Events refused at ingest, per reason (bot, automation, prefetch, ...); counts of requests, no visitors
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
SELECT reason, sum(events)::BIGINT AS events, min(day) AS first_day, max(day) AS last_day
FROM drops
WHERE site = $site AND day BETWEEN $from AND $to
GROUP BY reason
ORDER BY events DESC, reason
