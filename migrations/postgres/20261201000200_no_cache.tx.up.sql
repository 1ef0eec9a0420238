-- A run asked to be built fresh (the check run's Rebuild, "/build retry",
-- bot build --no-cache) reuses no earlier run's artifacts and no layer of
-- the engine's cache: a rebuild picks up what the distribution published
-- since.
ALTER TABLE runs ADD COLUMN no_cache BOOLEAN NOT NULL DEFAULT FALSE;
