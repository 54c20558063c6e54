-- Drop counts that ingest nodes sent through the stream and the loader already added to `drops`, by message id,
-- so a message replayed after a loader crash is not counted twice. Rows older than a day are deleted.
CREATE TABLE loaded_drops (
    msg_id VARCHAR PRIMARY KEY,
    loaded_at TIMESTAMP NOT NULL
);
