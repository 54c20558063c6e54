-- API tokens: only a SHA-256 of the secret part is stored; the token is shown once at creation.
CREATE TABLE tokens (
    token_id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    secret_hash BLOB NOT NULL,
    scopes VARCHAR[] NOT NULL,
    sites VARCHAR[],
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

-- Who read or changed what: every authenticated call.
CREATE TABLE audit_log (
    ts TIMESTAMP NOT NULL,
    token_name VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    site VARCHAR,
    target VARCHAR,
    outcome VARCHAR NOT NULL
);
