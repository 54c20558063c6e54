-- name: campaign_{source}
-- description: The first visit came from a campaign (utm_source): campaign_newsletter, campaign_facebook, ...
-- refresh: 60s
SELECT visitor, first_utm_source AS source
FROM profiles
WHERE site = $site AND first_utm_source IS NOT NULL
