-- Engagement reports (Plausible's tracker sends one as a page view ends): how far the page was scrolled
-- (percent) and how long it was engaged (ms). Kept apart from events, so they never count as events.
CREATE TABLE engagement (
    event_id UUID NOT NULL,
    ts TIMESTAMP NOT NULL,
    site VARCHAR NOT NULL,
    hostname VARCHAR,
    path VARCHAR NOT NULL,
    visitor UBIGINT,
    consented BOOLEAN NOT NULL,
    anonymous BOOLEAN NOT NULL,
    scroll_depth SMALLINT NOT NULL,
    engaged_ms BIGINT NOT NULL
);
