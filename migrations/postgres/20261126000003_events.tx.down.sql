DROP INDEX runs_active_repo_ref;
DROP INDEX runs_repo_head_sha_id;
DROP INDEX runs_repo_number_id;
ALTER TABLE installations DROP COLUMN spec_path;
DROP TABLE approvals;
UPDATE deliveries SET outcome = 'ignored', reason = 'deferred, not resolved before downgrade' WHERE outcome = 'deferred';
ALTER TABLE deliveries DROP CONSTRAINT deliveries_outcome_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_outcome_check
    CHECK (outcome IN ('queued', 'ignored', 'rejected'));
