DROP INDEX runs_updated_at_id;
