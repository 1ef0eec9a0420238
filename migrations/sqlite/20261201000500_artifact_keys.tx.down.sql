ALTER TABLE artifacts DROP COLUMN object_key;
