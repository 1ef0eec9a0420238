DROP INDEX runs_active_repo_ref;
DROP INDEX runs_repo_head_sha_id;
DROP INDEX runs_repo_number_id;
ALTER TABLE installations DROP COLUMN spec_path;
DROP TABLE approvals;
CREATE TABLE deliveries_old (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id          BIGINT NOT NULL,
    delivery_id     TEXT NOT NULL,
    event           TEXT NOT NULL,
    action          TEXT NOT NULL DEFAULT '',
    installation_id BIGINT,
    repo            TEXT NOT NULL DEFAULT '',
    received_at     TIMESTAMP NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('queued', 'ignored', 'rejected')),
    reason          TEXT NOT NULL DEFAULT '',
    payload_sha256  TEXT NOT NULL,
    run_id          BIGINT REFERENCES runs (id),
    CONSTRAINT deliveries_app_delivery UNIQUE (app_id, delivery_id)
);
INSERT INTO deliveries_old SELECT id, app_id, delivery_id, event, action, installation_id, repo, received_at,
    CASE outcome WHEN 'deferred' THEN 'ignored' ELSE outcome END, reason, payload_sha256, run_id FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_old RENAME TO deliveries;
