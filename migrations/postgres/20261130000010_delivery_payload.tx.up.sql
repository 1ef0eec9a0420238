-- A signed body replayed under a new delivery id is recognised by its
-- digest within a window (store.IntakeItem.ReplayWindow): intake looks
-- recent deliveries up by payload digest.
CREATE INDEX deliveries_payload_sha256 ON deliveries (payload_sha256, received_at);
