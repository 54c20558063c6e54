-- Account identifiers (e-mail, phone, account number) linked to a consented visitor: only HMACs, never the value.
CREATE TABLE identities (
    site VARCHAR NOT NULL,
    visitor UBIGINT NOT NULL,
    account VARCHAR NOT NULL,  -- hex HMAC-SHA256(pepper, site, kind, normalized identifier)
    kind VARCHAR NOT NULL,     -- email | phone | account
    created_at TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL,
    PRIMARY KEY (site, visitor, account)
);

-- How many identifier-shaped values were scrubbed (or click ids stripped) per site, day, kind and field.
CREATE TABLE scrubbed (
    site VARCHAR NOT NULL,
    day DATE NOT NULL,
    kind VARCHAR NOT NULL,   -- email | phone | number | id | click_id
    field VARCHAR NOT NULL,  -- path | name | utm | props, or the click-id parameter's name
    hits BIGINT NOT NULL,
    PRIMARY KEY (site, day, kind, field)
);

-- Data-subject requests (erase, export, ...): due 15 days after receipt; the subject is a keyed hash.
CREATE TABLE privacy_requests (
    request_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    site VARCHAR NOT NULL,
    subject VARCHAR,          -- hex HMAC of the visitor or account; never the identifier itself
    channel VARCHAR NOT NULL, -- browser | backend | cli
    received TIMESTAMP NOT NULL,
    due TIMESTAMP NOT NULL,
    completed TIMESTAMP,
    rows_affected BIGINT,
    note VARCHAR
);

-- Third-party hosts that a site's pages tried to load, from Content-Security-Policy violation reports.
CREATE TABLE third_parties (
    site VARCHAR NOT NULL,
    day DATE NOT NULL,
    page VARCHAR NOT NULL,
    host VARCHAR NOT NULL,
    directive VARCHAR NOT NULL,
    reports BIGINT NOT NULL,
    PRIMARY KEY (site, day, page, host, directive)
);
