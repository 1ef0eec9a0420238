DROP INDEX pending_specs_repo_number;
DROP TABLE pending_specs;
