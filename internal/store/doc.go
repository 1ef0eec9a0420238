// Package store keeps runs, their steps, logs and artifacts, GitHub
// deliveries and installations in a SQL database through Bun, and applies
// the schema migrations in migrations/.
//
// PostgreSQL is the production database (DATABASE_URL=postgres://…); with
// no URL the store opens a SQLite file under the data directory, so the bot
// runs with zero set-up. Both are driven through database/sql, the same
// *sql.DB that River's job queue uses, so a delivery, its run and its job
// commit in one transaction (see Intake).
//
// Writes that fail on a transient error (connection refused or reset,
// timeouts, admin shutdown, serialization failures, SQLite busy) are
// retried with exponential backoff; constraint violations never are.
package store
