-- Token buckets of the quotas (commands and builds per installation,
-- repository and user; refusal comments per pull request), shared by
-- every process on the database.
CREATE TABLE quota_buckets (
    key        TEXT PRIMARY KEY,
    tokens     REAL NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
