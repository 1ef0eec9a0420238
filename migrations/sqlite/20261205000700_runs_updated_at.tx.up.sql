-- The live event streams' global poller reads runs changed since a time
-- (store.RunsChangedSince), twice a second while a WebSocket is open.
CREATE INDEX runs_updated_at_id ON runs (updated_at, id);
