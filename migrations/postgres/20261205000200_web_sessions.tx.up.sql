-- Web sessions: people signed in with GitHub (the App's OAuth client) on
-- the run pages. The cookie holds a random secret; the row holds only its
-- sha256 (id), so a read of this table signs nobody in. csrf is the
-- session's token for its forms (sign-out). No GitHub token is kept:
-- what a person may read is asked of GitHub with the App's installation
-- token (their permission on the run's repository).
CREATE TABLE web_sessions (
    id         TEXT PRIMARY KEY,
    login      TEXT NOT NULL,
    user_id    BIGINT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
