ALTER TABLE runs DROP COLUMN partial_failed;
