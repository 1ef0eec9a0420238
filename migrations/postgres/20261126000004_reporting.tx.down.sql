ALTER TABLE artifacts DROP COLUMN url;
ALTER TABLE runs DROP COLUMN reported_final;
ALTER TABLE runs DROP COLUMN report_error;
ALTER TABLE runs DROP COLUMN release_url;
ALTER TABLE runs DROP COLUMN comment_id;
ALTER TABLE runs DROP COLUMN annotations_sent;
ALTER TABLE runs DROP COLUMN partial_reason;
ALTER TABLE runs DROP COLUMN diagnostics;
