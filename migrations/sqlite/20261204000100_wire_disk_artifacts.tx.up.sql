-- See the postgres twin. The CHECK is widened in place, as in
-- 20261201000300_scheduled_rebuilds; the table created and dropped after
-- it changes the schema version, so every connection reloads the schema.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, '''spec'', ''packages'')', '''spec'', ''packages'', ''disk'')')
    WHERE type = 'table' AND name = 'artifacts';
PRAGMA writable_schema = RESET;
CREATE TABLE disk_artifacts_bump (x INTEGER);
DROP TABLE disk_artifacts_bump;
