-- See the postgres twin. SQLite cannot alter a CHECK constraint: the
-- deliveries table is rebuilt.
CREATE TABLE deliveries_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id          BIGINT NOT NULL,
    delivery_id     TEXT NOT NULL,
    event           TEXT NOT NULL,
    action          TEXT NOT NULL DEFAULT '',
    installation_id BIGINT,
    repo            TEXT NOT NULL DEFAULT '',
    received_at     TIMESTAMP NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('queued', 'ignored', 'rejected', 'deferred')),
    reason          TEXT NOT NULL DEFAULT '',
    payload_sha256  TEXT NOT NULL,
    run_id          BIGINT REFERENCES runs (id),
    CONSTRAINT deliveries_app_delivery UNIQUE (app_id, delivery_id)
);
INSERT INTO deliveries_new SELECT * FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;

CREATE TABLE approvals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    repo        TEXT NOT NULL,
    number      INTEGER NOT NULL,
    head_sha    TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    approved_at TIMESTAMP NOT NULL,
    CONSTRAINT approvals_repo_number_sha UNIQUE (repo, number, head_sha)
);

ALTER TABLE installations ADD COLUMN spec_path TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_repo_number_id ON runs (repo, number, id DESC) WHERE number IS NOT NULL;
CREATE INDEX runs_repo_head_sha_id ON runs (repo, head_sha, id DESC);
-- Active runs of a branch or pull request: what a newer push supersedes.
CREATE INDEX runs_active_repo_ref ON runs (repo, ref, id) WHERE status IN ('PENDING', 'IN_PROGRESS');
