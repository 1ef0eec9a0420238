-- A run asked to be built without a boot test (POST /api/v1/builds
-- ?noBootTest=true, and the rebuilds of such a run): its ISO and disk
-- images get no boot-test marker and BOOT_TESTING boots nothing. Its
-- artifacts are never a boot-tested run's, nor the other way round (the
-- pipeline's cache key says which it is).
ALTER TABLE runs ADD COLUMN no_boot_test BOOLEAN NOT NULL DEFAULT FALSE;
