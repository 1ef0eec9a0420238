DROP TABLE artifacts;
DROP TABLE run_logs;
DROP TABLE run_steps;
DROP TABLE deliveries;
DROP TABLE runs;
DROP TABLE installations;
