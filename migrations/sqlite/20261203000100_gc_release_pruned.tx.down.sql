ALTER TABLE runs DROP COLUMN release_pruned_at;
