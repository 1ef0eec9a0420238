DROP INDEX runs_context_hash;
CREATE INDEX runs_context_hash ON runs (context_hash, id DESC);
