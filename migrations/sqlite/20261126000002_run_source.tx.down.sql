DROP INDEX runs_context_hash;
ALTER TABLE runs DROP COLUMN context_hash;
ALTER TABLE runs DROP COLUMN distro;
ALTER TABLE runs DROP COLUMN spec_source;
