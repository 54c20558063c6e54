-- Events: one row per stored event; visitor is a 64-bit keyed hash, never a raw id.
CREATE TABLE events (
    event_id UUID NOT NULL,
    ts TIMESTAMP NOT NULL,
    site VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    hostname VARCHAR,
    path VARCHAR NOT NULL,
    referrer_host VARCHAR,
    utm_source VARCHAR,
    utm_medium VARCHAR,
    utm_campaign VARCHAR,
    utm_term VARCHAR,
    utm_content VARCHAR,
    visitor UBIGINT,
    consented BOOLEAN NOT NULL,
    anonymous BOOLEAN NOT NULL,
    device_type VARCHAR,
    device_brand VARCHAR,
    device_model VARCHAR,
    device_code VARCHAR,
    os_name VARCHAR,
    os_version VARCHAR,
    browser_name VARCHAR,
    browser_version VARCHAR,
    screen_w INTEGER,
    screen_h INTEGER,
    language VARCHAR,
    timezone VARCHAR,
    props JSON
);

-- Anonymous aggregate: events per site, day and name; kept beyond the events' retention window.
CREATE TABLE daily_counts (
    site VARCHAR NOT NULL,
    day DATE NOT NULL,
    name VARCHAR NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (site, day, name)
);

-- Dropped events per site, day and reason (bots, automation, prefetch, ...).
CREATE TABLE drops (
    site VARCHAR NOT NULL,
    day DATE NOT NULL,
    reason VARCHAR NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (site, day, reason)
);

-- Daily salts for cookieless visitor hashes; a salt is deleted once its day (plus a grace period) is over.
CREATE TABLE salts (
    day DATE PRIMARY KEY,
    salt BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- How far the journal has been loaded; updated in the same transaction as the rows it covers.
CREATE TABLE journal_state (
    id INTEGER PRIMARY KEY,
    segment BIGINT NOT NULL,
    "offset" BIGINT NOT NULL
);
INSERT INTO journal_state VALUES (1, 0, 0);
