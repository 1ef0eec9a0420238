-- Artifacts live in the artifact store (ARTIFACT_STORE): a row names its
-- object by key (runs/<run>/<name>), which every worker can read. Rows
-- recorded before have an empty key and their local path in location,
-- still readable on the machine that has the file.
ALTER TABLE artifacts ADD COLUMN object_key TEXT NOT NULL DEFAULT '';
