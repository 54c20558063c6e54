-- People who log in to /dashboard with a password (argon2id hash in PHC form; never the password).
CREATE TABLE users (
    name VARCHAR PRIMARY KEY,
    password_hash VARCHAR NOT NULL,
    scopes VARCHAR[] NOT NULL,
    sites VARCHAR[],
    created_at TIMESTAMP NOT NULL,
    disabled_at TIMESTAMP
);

-- Dashboard sessions: only a SHA-256 of the cookie's secret is stored. A session made from a token keeps
-- the token's id, so revoking the token ends the session.
CREATE TABLE dashboard_sessions (
    secret_hash BLOB PRIMARY KEY,
    principal VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    token_id VARCHAR,
    scopes VARCHAR[] NOT NULL,
    sites VARCHAR[],
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- The one definition of a screen's size class, used by the rollups and by dashboard filters.
CREATE MACRO screen_class(w) AS
    CASE
        WHEN w IS NULL THEN NULL
        WHEN w < 600 THEN 'phone'
        WHEN w < 1024 THEN 'tablet'
        WHEN w < 1440 THEN 'laptop'
        ELSE 'desktop'
    END;
