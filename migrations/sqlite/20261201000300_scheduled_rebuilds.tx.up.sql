-- See the postgres twin. SQLite cannot alter a CHECK constraint, and the
-- runs table cannot be rebuilt (dropping it would cascade to its logs,
-- steps and artifacts): the two CHECKs are widened in place, the
-- documented way for loosening a constraint (sqlite.org/lang_altertable.html,
-- "other kinds of table schema changes"). Every existing row satisfies
-- the wider CHECK. The CREATE TABLE that follows changes the schema
-- version, so every connection reloads the schema.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, '''cli'', ''rerun'')', '''cli'', ''rerun'', ''schedule'')')
    WHERE type = 'table' AND name = 'runs';
UPDATE sqlite_schema SET sql = replace(sql, '''checksums'', ''spec'')', '''checksums'', ''spec'', ''packages'')')
    WHERE type = 'table' AND name = 'artifacts';
PRAGMA writable_schema = RESET;

ALTER TABLE runs ADD COLUMN default_branch TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN package_updates TEXT NOT NULL DEFAULT '';

CREATE TABLE schedule_checks (
    run_id         BIGINT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    checked_at     TIMESTAMP NOT NULL,
    claim          BIGINT NOT NULL DEFAULT 0,
    rebuild_run_id BIGINT REFERENCES runs (id) ON DELETE SET NULL,
    note           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_default_branch_success ON runs (repo, ref, id DESC) WHERE default_branch <> '' AND status = 'SUCCESS';
