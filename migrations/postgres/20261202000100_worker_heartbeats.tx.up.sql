-- Worker heartbeats: every worker process records that it is alive
-- (seen_at, every ~10 s) under its River client id, the id River writes
-- into river_job.attempted_by. A worker silent for longer than
-- WORKER_DEAD_AFTER is declared lost: its running jobs are made available
-- again (store.RescueLostWorkers) and its row is deleted. A worker that
-- stops gracefully deletes its own row.
CREATE TABLE worker_heartbeats (
    id         TEXT PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL,
    seen_at    TIMESTAMPTZ NOT NULL
);

-- Why the run is being built again (a worker stopped or was lost): shown
-- on its check run while it runs again.
ALTER TABLE runs ADD COLUMN retry_reason TEXT NOT NULL DEFAULT '';
