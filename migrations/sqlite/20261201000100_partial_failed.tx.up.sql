-- A successful run whose ISO step or boot test failed has the image only:
-- the cache never reuses it (the failure may be the machine's, e.g. a full
-- disk), so an identical run builds again instead of reporting success
-- with no ISO. A partial result the configuration decided is reused.
ALTER TABLE runs ADD COLUMN partial_failed BOOLEAN NOT NULL DEFAULT FALSE;
