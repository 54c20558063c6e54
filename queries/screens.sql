-- name: screens
-- description: Visitors and page views per exact screen size (by=size, with its class) or per size class (by=class: phone < 600 px wide, tablet < 1024, laptop < 1440, desktop)
-- param: site VARCHAR
-- param: from DATE
-- param: to DATE
-- param: by ENUM(size,class) size
-- param: limit INTEGER 100
SELECT
    CASE WHEN $by = 'size' THEN k1 END AS size,
    CASE WHEN $by = 'size' THEN k2 ELSE k1 END AS class,
    visitors,
    pageviews
FROM kanon_breakdown($site, CASE WHEN $by = 'class' THEN 'screen_class' ELSE 'screen' END, $from, $to, $k)
ORDER BY folded, visitors DESC, pageviews DESC, k1, k2
LIMIT $limit
