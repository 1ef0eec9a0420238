ALTER TABLE runs ADD COLUMN spec_source TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN distro TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN context_hash TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_context_hash ON runs (context_hash, id DESC);
