DROP INDEX runs_default_branch_success;
DROP TABLE schedule_checks;
DELETE FROM artifacts WHERE type = 'packages';
UPDATE runs SET trigger = 'rerun' WHERE trigger = 'schedule';
ALTER TABLE runs DROP COLUMN package_updates;
ALTER TABLE runs DROP COLUMN default_branch;
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, '''cli'', ''rerun'', ''schedule'')', '''cli'', ''rerun'')')
    WHERE type = 'table' AND name = 'runs';
UPDATE sqlite_schema SET sql = replace(sql, '''checksums'', ''spec'', ''packages'')', '''checksums'', ''spec'')')
    WHERE type = 'table' AND name = 'artifacts';
PRAGMA writable_schema = RESET;
CREATE TABLE schedule_down_bump (x INTEGER);
DROP TABLE schedule_down_bump;
