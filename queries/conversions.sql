-- name: conversions
-- description: Visitors who reached a goal (goal=/thank-you: a page view of that path; goal=event:signup: that custom event) and the conversion rate, overall and by the source, campaign, device type and entry page of each visitor's first event in the period; groups of fewer than k visitors are folded into (other); events without a visitor are not counted
-- filterable: events
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: goal VARCHAR
WITH visitors AS (
    SELECT
        visitor,
        coalesce(arg_min_null(referrer_host, ts), '(direct)') AS source,
        coalesce(arg_min_null(utm_campaign, ts), '(none)') AS campaign,
        coalesce(arg_min_null(device_type, ts), '(unknown)') AS device_type,
        arg_min_null(path, ts) AS entry_page,
        bool_or(
            CASE WHEN starts_with($goal, 'event:') THEN name = substr($goal, 7) ELSE name = 'pageview' AND path = $goal END
        ) AS converted
    FROM events
    WHERE site = $site AND ts >= $from::TIMESTAMP AND ts < $to::TIMESTAMP + INTERVAL 1 DAY AND visitor IS NOT NULL
    GROUP BY visitor
),
grouped AS (
    SELECT dimension, value, count(*) AS visitors, count(*) FILTER (converted) AS converted
    FROM (
        SELECT
            converted,
            unnest([
                {'dimension': 'total', 'value': NULL},
                {'dimension': 'source', 'value': source},
                {'dimension': 'campaign', 'value': campaign},
                {'dimension': 'device_type', 'value': device_type},
                {'dimension': 'entry_page', 'value': entry_page}
            ], recursive := true)
        FROM visitors
    )
    GROUP BY ALL
),
folded AS (
    SELECT
        dimension,
        CASE WHEN visitors >= $k THEN value ELSE '(other)' END AS value,
        visitors < $k AS folded,
        sum(visitors) AS visitors,
        sum(converted) AS converted
    FROM grouped
    GROUP BY ALL
)
SELECT
    dimension,
    value,
    visitors::BIGINT AS visitors,
    converted::BIGINT AS converted,
    round(converted / visitors, 4)::DOUBLE AS rate
FROM folded
ORDER BY list_position(['total', 'source', 'campaign', 'device_type', 'entry_page'], dimension), folded,
    visitors DESC, converted DESC, value
