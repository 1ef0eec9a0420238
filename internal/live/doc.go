// Package live turns a run's changes in the store into events and serves
// them: Server-Sent Events for one run (SSE) and a WebSocket of every
// run's step changes and completions (WebSocket). The store is shared by
// several machines — workers write, the web server reads — so a Hub learns
// of changes by polling the database: one poller per watched run, shared
// by all of that run's subscribers, started by the first and stopped when
// the last leaves, plus one global poller of the runs table (by
// updated_at) while a WebSocket is open. (No notification channel for run
// changes exists: River's LISTEN/NOTIFY carries job inserts only, so
// PostgreSQL and SQLite are both polled, every Options.Interval.)
//
// # Events of a run
//
//	status    the run's status, step, retry and failure reasons (a snapshot:
//	          sent first on every connection and on every change; no id)
//	step      a step started, finished or was reset (a snapshot of the step:
//	          status, started, finished, duration)
//	log       a new line of the run's log
//	artifact  a new artifact (name, type, size, sha256, download URL)
//	end       the run reached a final state; the stream ends after it
//
// # Event ids
//
// An event's id is a cursor "L-A-S" (or "L-A-S-end" on the end event),
// three decimal numbers a client echoes back as Last-Event-ID:
//
//	L  the id of the newest log line sent (log rows' ids grow)
//	A  the id of the newest artifact row sent (artifact rows' ids grow)
//	S  the time, in Unix milliseconds, of the newest step transition sent
//	   (a step's finish, else its start)
//
// Each event raises its own part and keeps the others, so along one stream
// every id is greater than or equal to the one before it in each part, and
// so also as a tuple compared in order: ids are monotonic per run. A
// resumed stream (Last-Event-ID) replays from the store the log lines with
// id > L, the artifacts with id > A and the steps whose last transition is
// at or after S (a step event is a snapshot, so one sent again is
// harmless), merged in time order, then continues live. Resuming after
// "end" is answered 204 No Content, which tells EventSource to stop.
//
// Polling reads log lines again over a short window (Options.LogLookback)
// so that a line committed after a line with a higher id — PostgreSQL
// hands ids out before commit — is still sent live, once.
//
// # Bounds
//
// Every subscriber has a bounded queue of poll batches (a batch's events
// are encoded once and shared by all subscribers); one whose queue is full
// — a client that stopped reading — is dropped: its stream ends, and a
// client that resumes with Last-Event-ID loses nothing. Subscribers are
// capped per run and in total (503 beyond), every write has a deadline,
// and pollers stop with their last subscriber.
//
// # Authorisation
//
// Not this package's: SSEOptions.Authorize decides who may read a run
// (before anything about the run is read or answered), and
// WSOptions.Authorize returns, per connection, which runs it may see. An
// unknown run and a refused one get the same 404.
package live
