DELETE FROM artifacts WHERE type = 'disk';
ALTER TABLE artifacts DROP CONSTRAINT artifacts_type_check;
ALTER TABLE artifacts ADD CONSTRAINT artifacts_type_check
    CHECK (type IN ('docker-image', 'docker-image-ref', 'iso', 'rootfs', 'sbom', 'log', 'boot-log', 'checksums', 'spec', 'packages'));
