DROP INDEX runs_api_token;
ALTER TABLE runs DROP COLUMN api_token_id;
DROP TABLE api_tokens;
