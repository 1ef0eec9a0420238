-- RELEASE_KEEP: when the bot deleted a run's release (and its tag) as one
-- beyond the newest N of its repository and branch.
ALTER TABLE runs ADD COLUMN release_pruned_at TIMESTAMP;
