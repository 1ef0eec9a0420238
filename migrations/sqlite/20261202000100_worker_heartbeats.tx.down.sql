ALTER TABLE runs DROP COLUMN retry_reason;
DROP TABLE worker_heartbeats;
