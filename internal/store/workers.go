package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/linux-builder/linux-builder/internal/logging"
	"github.com/linux-builder/linux-builder/internal/run"
)

// Worker heartbeats and the rescue of a lost worker's jobs. River rescues
// a job whose worker died only once the job's timeout has passed (hours
// for a build); a worker records that it is alive every few seconds, so
// the jobs of one that went silent are made available again within a
// minute. River's rescuer stays as the backstop (for workers that never
// recorded a heartbeat).

// ErrWorkerLost is returned by Heartbeat when the worker's row is gone:
// it was declared lost and its running jobs were given to other workers.
var ErrWorkerLost = errors.New("this worker was declared lost: its running jobs were rescued")

// WorkerHeartbeat is a worker process's heartbeat row.
type WorkerHeartbeat struct {
	bun.BaseModel `bun:"table:worker_heartbeats,alias:wh"`

	ID        string    `bun:"id,pk"` // the River client id (river_job.attempted_by)
	StartedAt time.Time `bun:"started_at,notnull"`
	SeenAt    time.Time `bun:"seen_at,notnull"`
}

// RegisterWorker records that worker id started at at (a fresh row).
func (db *DB) RegisterWorker(ctx context.Context, id string, at time.Time) error {
	return db.withRetry(ctx, "register worker", func(ctx context.Context) error {
		hb := WorkerHeartbeat{ID: id, StartedAt: at.UTC(), SeenAt: at.UTC()}
		_, err := db.Bun.NewInsert().Model(&hb).
			On("CONFLICT (id) DO UPDATE").Set("started_at = EXCLUDED.started_at, seen_at = EXCLUDED.seen_at").Exec(ctx)
		return err
	})
}

// Heartbeat records that worker id is alive at at. It returns
// ErrWorkerLost when the worker's row is gone (RescueLostWorkers deleted
// it): the worker must not go on with the jobs it was running.
func (db *DB) Heartbeat(ctx context.Context, id string, at time.Time) error {
	return db.withRetry(ctx, "heartbeat", func(ctx context.Context) error {
		res, err := db.Bun.NewUpdate().Model((*WorkerHeartbeat)(nil)).Set("seen_at = ?", at.UTC()).Where("id = ?", id).Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(ErrWorkerLost, err)
		}
		return nil
	})
}

// ForgetWorker deletes worker id's row: it stopped gracefully, and River
// made its interrupted jobs available itself.
func (db *DB) ForgetWorker(ctx context.Context, id string) error {
	return db.withRetry(ctx, "forget worker", func(ctx context.Context) error {
		_, err := db.Bun.NewDelete().Model((*WorkerHeartbeat)(nil)).Where("id = ?", id).Exec(ctx)
		return err
	})
}

// Rescued is what RescueLostWorkers did.
type Rescued struct {
	// Workers are the workers declared lost (their rows are gone).
	Workers []string
	// Retried, Cancelled and Discarded are the job ids made available
	// again, cancelled (a cancel was asked while the worker was silent)
	// and discarded (it was their last attempt).
	Retried, Cancelled, Discarded []int64
	// Runs are the runs of the retried build jobs: they start over.
	Runs []int64
}

// lostJob is a running job of a lost worker.
type lostJob struct {
	ID          int64  `bun:"id"`
	Kind        string `bun:"kind"`
	Attempt     int    `bun:"attempt"`
	MaxAttempts int    `bun:"max_attempts"`
	Cancel      bool   `bun:"cancel"`
	RunID       *int64 `bun:"run_id"`
}

// RescueLostWorkers declares lost every worker whose heartbeat is older
// than deadAfter at now, and rescues their running jobs as River's own
// rescuer would, without waiting for the jobs' timeout: a job whose
// cancel was asked is cancelled, a job on its last attempt is discarded
// (the reaper ends its run), any other is made available again at once.
// A retried build's run starts over (RestartRun, with run.ReasonWorkerLost
// and a line in its log). Only jobs in state running whose latest attempt
// is a lost worker's are touched, in one transaction with the choice of
// the lost workers: a live worker's job never is.
func (db *DB) RescueLostWorkers(ctx context.Context, now time.Time, deadAfter time.Duration) (Rescued, error) {
	var out Rescued
	err := db.inTx(ctx, "rescue lost workers", func(ctx context.Context, tx bun.Tx) error {
		out = Rescued{}
		if err := tx.NewSelect().Model((*WorkerHeartbeat)(nil)).Column("id").
			Where("seen_at < ?", now.Add(-deadAfter).UTC()).OrderExpr("id").Scan(ctx, &out.Workers); err != nil {
			return fmt.Errorf("find lost workers: %w", err)
		}
		if len(out.Workers) == 0 {
			return nil
		}
		var jobs []lostJob
		if err := tx.NewRaw(db.lostJobsSQL(), bun.List(out.Workers)).Scan(ctx, &jobs); err != nil {
			return fmt.Errorf("find the lost workers' jobs: %w", err)
		}
		for _, j := range jobs {
			if err := db.rescueJob(ctx, tx, j, now, &out); err != nil {
				return err
			}
		}
		if _, err := tx.NewDelete().Model((*WorkerHeartbeat)(nil)).Where("id IN (?)", bun.List(out.Workers)).Exec(ctx); err != nil {
			return fmt.Errorf("forget lost workers: %w", err)
		}
		return nil
	})
	if err != nil {
		return Rescued{}, err
	}
	return out, nil
}

// lostJobsSQL selects the running jobs whose latest attempt is one of the
// workers in ?.
func (db *DB) lostJobsSQL() string {
	if db.Dialect == SQLite {
		return `SELECT id, kind, attempt, max_attempts,
			json_extract(metadata, '$.cancel_attempted_at') IS NOT NULL AS cancel,
			CASE WHEN kind = 'build' THEN json_extract(args, '$.run_id') END AS run_id
			FROM river_job WHERE state = 'running' AND json_extract(attempted_by, '$[#-1]') IN (?) ORDER BY id`
	}
	return `SELECT id, kind, attempt, max_attempts,
		metadata->>'cancel_attempted_at' IS NOT NULL AS cancel,
		CASE WHEN kind = 'build' THEN (args->>'run_id')::bigint END AS run_id
		FROM river_job WHERE state = 'running' AND attempted_by[array_upper(attempted_by, 1)] IN (?)
		ORDER BY id FOR UPDATE SKIP LOCKED`
}

// rescueJob ends job j's lost attempt, guarded on the job still being in
// that attempt.
func (db *DB) rescueJob(ctx context.Context, tx bun.Tx, j lostJob, now time.Time, out *Rescued) error {
	state := "available"
	switch {
	case j.Cancel:
		state = "cancelled"
	case j.Attempt >= j.MaxAttempts:
		state = "discarded"
	}
	// The attempt's error, as River records one (rivertype.AttemptError).
	attemptErr, err := json.Marshal(struct {
		At      time.Time `json:"at"`
		Attempt int       `json:"attempt"`
		Error   string    `json:"error"`
		Trace   string    `json:"trace"`
	}{At: now.UTC(), Attempt: j.Attempt, Error: "the worker was lost (no heartbeat): job rescued", Trace: ""})
	if err != nil {
		return err
	}
	appendErr, finalized := "errors = array_append(errors, ?::jsonb)", "now()"
	if db.Dialect == SQLite {
		appendErr = "errors = jsonb(json_insert(json(coalesce(errors, jsonb('[]'))), '$[#]', json(?)))"
		finalized = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
	}
	q := tx.NewUpdate().Table("river_job").Set("state = ?", state).Set(appendErr, string(attemptErr)).
		Where("id = ? AND state = 'running' AND attempt = ?", j.ID, j.Attempt)
	if state != "available" {
		q = q.Set("finalized_at = " + finalized)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return fmt.Errorf("rescue job %d: %w", j.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // the job moved on meanwhile
	}
	switch state {
	case "cancelled":
		out.Cancelled = append(out.Cancelled, j.ID)
	case "discarded":
		out.Discarded = append(out.Discarded, j.ID)
	default:
		out.Retried = append(out.Retried, j.ID)
		if j.RunID != nil {
			restarted, err := db.restartRun(ctx, tx, *j.RunID, run.ReasonWorkerLost)
			if err != nil {
				return err
			}
			if restarted {
				out.Runs = append(out.Runs, *j.RunID)
				db.log.WarnContext(ctx, "rescued the build of a lost worker", logging.KeyRun, *j.RunID, logging.KeyJob, j.ID)
			}
		}
	}
	return nil
}

// RestartRun makes run id start over: PENDING again, without the steps,
// artifacts and partial result of the attempts before, with reason as its
// retry reason (also added to its log). The run's log is kept. A run that
// has ended is left alone: the error wraps ErrRunEnded (a run the user
// cancelled stays CANCELLED).
func (db *DB) RestartRun(ctx context.Context, id int64, reason string) error {
	return db.inTx(ctx, "restart run", func(ctx context.Context, tx bun.Tx) error {
		if err := db.checkFence(ctx, tx); err != nil {
			return err
		}
		ok, err := db.restartRun(ctx, tx, id, reason)
		if err == nil && !ok {
			err = fmt.Errorf("restart run %d: %w", id, ErrRunEnded)
		}
		return err
	})
}

// restartRun is RestartRun in tx; it reports whether the run was still
// going (and so was restarted).
func (db *DB) restartRun(ctx context.Context, tx bun.Tx, id int64, reason string) (bool, error) {
	now := db.utcNow()
	res, err := tx.NewUpdate().Model((*Run)(nil)).
		Set("status = ?", run.StatusPending).Set("step = ?", run.Pending).Set("retry_reason = ?", reason).
		Set("partial_reason = ''").Set("partial_failed = ?", false).Set("updated_at = ?", now).
		Where("id = ? AND status IN (?)", id, bun.List([]run.Status{run.StatusPending, run.StatusInProgress})).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("restart run %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	if _, err := tx.NewDelete().Model((*RunStep)(nil)).Where("run_id = ?", id).Exec(ctx); err != nil {
		return false, fmt.Errorf("restart run %d: steps: %w", id, err)
	}
	if _, err := tx.NewDelete().Model((*Artifact)(nil)).Where("run_id = ?", id).Exec(ctx); err != nil {
		return false, fmt.Errorf("restart run %d: artifacts: %w", id, err)
	}
	line := RunLog{RunID: id, Step: run.Pending, Level: run.LogWarn, Message: reason, At: now}
	if _, err := tx.NewInsert().Model(&line).Exec(ctx); err != nil {
		return false, fmt.Errorf("restart run %d: log: %w", id, err)
	}
	return true, nil
}
