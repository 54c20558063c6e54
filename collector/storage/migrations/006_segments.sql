-- Profiles: one row per consented visitor (a keyed hash) and site, kept current by the writer in the
-- same transaction as the visitor's events. Cookieless and GPC/DNT visitors never get one.
CREATE TABLE IF NOT EXISTS profiles (
    site VARCHAR NOT NULL,
    visitor UBIGINT NOT NULL,
    first_seen TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL,
    days_active INTEGER NOT NULL,
    visits INTEGER NOT NULL,
    pageviews BIGINT NOT NULL,
    events BIGINT NOT NULL,
    device_type VARCHAR,
    device_brand VARCHAR,
    device_model VARCHAR,
    os_name VARCHAR,
    browser_name VARCHAR,
    screen_class VARCHAR,
    language VARCHAR,
    timezone VARCHAR,
    first_referrer_host VARCHAR,
    first_utm_source VARCHAR,
    first_utm_medium VARCHAR,
    first_utm_campaign VARCHAR,
    PRIMARY KEY (site, visitor)
);

-- Page views and custom events per consented visitor, day and top-level path section ('' is the root).
CREATE TABLE IF NOT EXISTS profile_sections (
    site VARCHAR NOT NULL,
    visitor UBIGINT NOT NULL,
    day DATE NOT NULL,
    section VARCHAR NOT NULL,
    pageviews BIGINT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (site, visitor, day, section)
);

-- Custom events per consented visitor, day and event name.
CREATE TABLE IF NOT EXISTS profile_events (
    site VARCHAR NOT NULL,
    visitor UBIGINT NOT NULL,
    day DATE NOT NULL,
    name VARCHAR NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (site, visitor, day, name)
);

-- Segments and their members; migration 005 (named queries) may have created minimal versions.
CREATE TABLE IF NOT EXISTS segments (
    site VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    description VARCHAR
);
ALTER TABLE segments ADD COLUMN IF NOT EXISTS definition VARCHAR;
ALTER TABLE segments ADD COLUMN IF NOT EXISTS refresh_seconds INTEGER;
ALTER TABLE segments ADD COLUMN IF NOT EXISTS members BIGINT;
ALTER TABLE segments ADD COLUMN IF NOT EXISTS computed_at TIMESTAMP;
ALTER TABLE segments ADD COLUMN IF NOT EXISTS refresh_ms DOUBLE;

CREATE TABLE IF NOT EXISTS segment_members (
    site VARCHAR NOT NULL,
    segment VARCHAR NOT NULL,
    visitor UBIGINT NOT NULL,
    computed_at TIMESTAMP NOT NULL
);
