CREATE TABLE installations (
    id            BIGINT PRIMARY KEY,
    account       TEXT NOT NULL,
    suspended     BOOLEAN NOT NULL DEFAULT FALSE,
    repositories  TEXT NOT NULL DEFAULT '[]',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE runs (
    id                BIGSERIAL PRIMARY KEY,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('PENDING', 'IN_PROGRESS', 'SUCCESS', 'FAILED', 'CANCELLED')),
    step              TEXT NOT NULL,
    trigger           TEXT NOT NULL CHECK (trigger IN ('push', 'pull_request', 'comment', 'api', 'cli', 'rerun')),
    installation_id   BIGINT,
    repo              TEXT NOT NULL,
    ref               TEXT NOT NULL DEFAULT '',
    head_sha          TEXT NOT NULL DEFAULT '',
    number            INTEGER,
    requested_by      TEXT NOT NULL DEFAULT '',
    base              TEXT NOT NULL DEFAULT '',
    spec              TEXT NOT NULL DEFAULT '',
    spec_path         TEXT NOT NULL DEFAULT '',
    spec_hash         TEXT NOT NULL DEFAULT '',
    kernel_version    TEXT NOT NULL DEFAULT '',
    init_system       TEXT NOT NULL DEFAULT '',
    architecture      TEXT NOT NULL DEFAULT '',
    security_level    TEXT NOT NULL DEFAULT '',
    warnings          TEXT NOT NULL DEFAULT '[]',
    build_duration_ms BIGINT NOT NULL DEFAULT 0,
    check_run_id      BIGINT,
    release_id        BIGINT,
    job_id            BIGINT,
    superseded_by     BIGINT REFERENCES runs (id),
    failure_reason    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_repo_id ON runs (repo, id DESC);
CREATE INDEX runs_status_id ON runs (status, id DESC);
CREATE INDEX runs_repo_ref_id ON runs (repo, ref, id DESC);

CREATE TABLE deliveries (
    id              BIGSERIAL PRIMARY KEY,
    app_id          BIGINT NOT NULL,
    delivery_id     TEXT NOT NULL,
    event           TEXT NOT NULL,
    action          TEXT NOT NULL DEFAULT '',
    installation_id BIGINT,
    repo            TEXT NOT NULL DEFAULT '',
    received_at     TIMESTAMPTZ NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('queued', 'ignored', 'rejected')),
    reason          TEXT NOT NULL DEFAULT '',
    payload_sha256  TEXT NOT NULL,
    run_id          BIGINT REFERENCES runs (id),
    CONSTRAINT deliveries_app_delivery UNIQUE (app_id, delivery_id)
);

CREATE TABLE run_steps (
    run_id      BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'skipped')),
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, step)
);

CREATE TABLE run_logs (
    id      BIGSERIAL PRIMARY KEY,
    run_id  BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step    TEXT NOT NULL,
    level   TEXT NOT NULL CHECK (level IN ('info', 'warn', 'error')),
    message TEXT NOT NULL,
    at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX run_logs_run_id ON run_logs (run_id, id);

CREATE TABLE artifacts (
    id         BIGSERIAL PRIMARY KEY,
    run_id     BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL CHECK (type IN ('docker-image', 'docker-image-ref', 'iso', 'rootfs', 'sbom', 'log', 'boot-log', 'checksums', 'spec')),
    location   TEXT NOT NULL,
    size       BIGINT NOT NULL DEFAULT 0,
    sha256     TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    CONSTRAINT artifacts_run_name UNIQUE (run_id, name)
);
CREATE INDEX artifacts_expires_at ON artifacts (expires_at) WHERE expires_at IS NOT NULL;
