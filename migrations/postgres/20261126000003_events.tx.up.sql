-- Deliveries whose decision needs GitHub's API are recorded as deferred
-- and resolved by a job; maintainers' approvals of fork pull requests are
-- bound to one head commit; an installation may keep its spec elsewhere.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_outcome_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_outcome_check
    CHECK (outcome IN ('queued', 'ignored', 'rejected', 'deferred'));

CREATE TABLE approvals (
    id          BIGSERIAL PRIMARY KEY,
    repo        TEXT NOT NULL,
    number      INTEGER NOT NULL,
    head_sha    TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    approved_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT approvals_repo_number_sha UNIQUE (repo, number, head_sha)
);

ALTER TABLE installations ADD COLUMN spec_path TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_repo_number_id ON runs (repo, number, id DESC) WHERE number IS NOT NULL;
CREATE INDEX runs_repo_head_sha_id ON runs (repo, head_sha, id DESC);
-- Active runs of a branch or pull request: what a newer push supersedes.
CREATE INDEX runs_active_repo_ref ON runs (repo, ref, id) WHERE status IN ('PENDING', 'IN_PROGRESS');
