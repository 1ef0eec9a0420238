-- What GitHub reporting needs: the spec's diagnostics with positions (for
-- annotations), whether the run ended with the image only (a neutral
-- conclusion), how many annotations the check run has, the reply comment of
-- a comment-triggered run, the release, and what could not be reported.
ALTER TABLE runs ADD COLUMN diagnostics TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN partial_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN annotations_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN comment_id BIGINT;
ALTER TABLE runs ADD COLUMN source_comment_id BIGINT;
ALTER TABLE runs ADD COLUMN prompt TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN spec_pr_url TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN release_url TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN report_error TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN reported_final BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE artifacts ADD COLUMN url TEXT NOT NULL DEFAULT '';
