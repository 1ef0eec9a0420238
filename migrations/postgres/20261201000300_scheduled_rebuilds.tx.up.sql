-- Scheduled rebuilds (linux-build.yaml's schedule). A run remembers its
-- repository's default branch (from the push that asked for it): the
-- latest successful run of that branch is what a schedule rebuilds. A
-- scheduled rebuild records the package updates that caused it, for its
-- release notes; packages.txt is the run's package manifest.
ALTER TABLE runs ADD COLUMN default_branch TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN package_updates TEXT NOT NULL DEFAULT '';
ALTER TABLE runs DROP CONSTRAINT runs_trigger_check;
ALTER TABLE runs ADD CONSTRAINT runs_trigger_check
    CHECK (trigger IN ('push', 'pull_request', 'comment', 'api', 'cli', 'rerun', 'schedule'));
ALTER TABLE artifacts DROP CONSTRAINT artifacts_type_check;
ALTER TABLE artifacts ADD CONSTRAINT artifacts_type_check
    CHECK (type IN ('docker-image', 'docker-image-ref', 'iso', 'rootfs', 'sbom', 'log', 'boot-log', 'checksums', 'spec', 'packages'));

-- The last schedule check of a successful run: when it was checked (the
-- next due time counts from it), the claim counter that lets exactly one
-- worker check it (compare and swap), and the rebuild it started.
CREATE TABLE schedule_checks (
    run_id         BIGINT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    checked_at     TIMESTAMPTZ NOT NULL,
    claim          BIGINT NOT NULL DEFAULT 0,
    rebuild_run_id BIGINT REFERENCES runs (id) ON DELETE SET NULL,
    note           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_default_branch_success ON runs (repo, ref, id DESC) WHERE default_branch <> '' AND status = 'SUCCESS';
