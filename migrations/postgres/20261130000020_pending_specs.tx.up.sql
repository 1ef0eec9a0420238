-- Specs generated from a description that run code their author chose
-- (postInstall scripts, dotfiles) wait here, bound to the issue or pull
-- request and to their SHA-256, until a user with write access confirms
-- that exact spec with "/build confirm <hash>".
CREATE TABLE pending_specs (
    id              BIGSERIAL PRIMARY KEY,
    installation_id BIGINT NOT NULL,
    repo            TEXT NOT NULL,
    number          INTEGER NOT NULL,
    spec_hash       TEXT NOT NULL,
    spec_source     TEXT NOT NULL,
    prompt          TEXT NOT NULL DEFAULT '',
    ref             TEXT NOT NULL,
    head_sha        TEXT NOT NULL,
    pr_flag         BOOLEAN NOT NULL DEFAULT FALSE,
    default_branch  TEXT NOT NULL DEFAULT '',
    requested_by    TEXT NOT NULL,
    delivery_row_id BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    confirmed_by    TEXT NOT NULL DEFAULT '',
    confirmed_at    TIMESTAMPTZ
);
CREATE INDEX pending_specs_repo_number ON pending_specs (repo, number, id DESC);
