DELETE FROM artifacts WHERE type = 'disk';
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, '''spec'', ''packages'', ''disk'')', '''spec'', ''packages'')')
    WHERE type = 'table' AND name = 'artifacts';
PRAGMA writable_schema = RESET;
CREATE TABLE disk_artifacts_down_bump (x INTEGER);
DROP TABLE disk_artifacts_down_bump;
