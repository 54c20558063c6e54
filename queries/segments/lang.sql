-- name: lang_{language}
-- description: Browser language (primary subtag) last seen: lang_vi, lang_en, ...
-- refresh: 60s
SELECT visitor, split_part(language, '-', 1) AS language
FROM profiles
WHERE site = $site AND language IS NOT NULL
