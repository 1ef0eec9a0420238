-- API tokens (bot token create): the REST API's bearer tokens. Only the
-- sha256 of a token's secret is kept; the secret is shown once. A name is
-- unique among live tokens (a revoked token's name can be given again).
CREATE TABLE api_tokens (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    scope         TEXT NOT NULL CHECK (scope IN ('read', 'build', 'admin')),
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- Runs started through the API belong to the token that asked for them:
-- a read or build token sees only its own runs.
ALTER TABLE runs ADD COLUMN api_token_id BIGINT REFERENCES api_tokens (id);
CREATE INDEX runs_api_token ON runs (api_token_id, id) WHERE api_token_id IS NOT NULL;
