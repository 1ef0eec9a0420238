-- See the postgres twin.
CREATE TABLE web_sessions (
    id         TEXT PRIMARY KEY,
    login      TEXT NOT NULL,
    user_id    BIGINT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
