-- The build cache looks up successful runs by context hash: index only
-- those, so recording a new run (intake) does not maintain this index.
DROP INDEX runs_context_hash;
CREATE INDEX runs_context_hash ON runs (context_hash, id DESC) WHERE status = 'SUCCESS';
