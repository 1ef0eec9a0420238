DROP INDEX deliveries_payload_sha256;
