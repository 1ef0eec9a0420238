-- A pull request from a fork is published as a draft release (seen only by
-- people with push access), never as a public one: the run records which
-- it got, so the check run and the status comment say where the files are.
ALTER TABLE runs ADD COLUMN release_draft BOOLEAN NOT NULL DEFAULT FALSE;
