ALTER TABLE runs DROP COLUMN release_draft;
