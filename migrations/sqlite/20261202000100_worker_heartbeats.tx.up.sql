-- See the postgres twin.
CREATE TABLE worker_heartbeats (
    id         TEXT PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    seen_at    TIMESTAMP NOT NULL
);

ALTER TABLE runs ADD COLUMN retry_reason TEXT NOT NULL DEFAULT '';
