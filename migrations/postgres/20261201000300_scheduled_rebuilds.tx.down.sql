DROP INDEX runs_default_branch_success;
DROP TABLE schedule_checks;
DELETE FROM artifacts WHERE type = 'packages';
ALTER TABLE artifacts DROP CONSTRAINT artifacts_type_check;
ALTER TABLE artifacts ADD CONSTRAINT artifacts_type_check
    CHECK (type IN ('docker-image', 'docker-image-ref', 'iso', 'rootfs', 'sbom', 'log', 'boot-log', 'checksums', 'spec'));
UPDATE runs SET trigger = 'rerun' WHERE trigger = 'schedule';
ALTER TABLE runs DROP CONSTRAINT runs_trigger_check;
ALTER TABLE runs ADD CONSTRAINT runs_trigger_check
    CHECK (trigger IN ('push', 'pull_request', 'comment', 'api', 'cli', 'rerun'));
ALTER TABLE runs DROP COLUMN package_updates;
ALTER TABLE runs DROP COLUMN default_branch;
