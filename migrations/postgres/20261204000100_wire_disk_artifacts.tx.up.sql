-- Disk images (outputs: [qcow2, raw]): linux.qcow2 and linux.raw.zst are
-- artifacts of type 'disk'.
ALTER TABLE artifacts DROP CONSTRAINT artifacts_type_check;
ALTER TABLE artifacts ADD CONSTRAINT artifacts_type_check
    CHECK (type IN ('docker-image', 'docker-image-ref', 'iso', 'rootfs', 'sbom', 'log', 'boot-log', 'checksums', 'spec', 'packages', 'disk'));
