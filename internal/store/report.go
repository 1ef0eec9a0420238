package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/uptrace/bun"
)

// LogTail returns the last n lines of run id's log in step (all steps when
// step is empty), oldest first.
func (db *DB) LogTail(ctx context.Context, id int64, step run.State, n int) ([]RunLog, error) {
	var lines []RunLog
	err := db.withRetry(ctx, "log tail", func(ctx context.Context) error {
		lines = nil
		q := db.Bun.NewSelect().Model(&lines).Where("run_id = ?", id)
		if step != "" {
			q = q.Where("step = ?", step)
		}
		return q.OrderExpr("id DESC").Limit(int64(n)).Scan(ctx)
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(lines)
	return lines, nil
}

// ReportUpdate records what was reported of run id on GitHub; nil fields
// are left alone.
type ReportUpdate struct {
	CheckRunID      *int64
	AnnotationsSent *int
	CommentID       *int64
	ReleaseID       *int64
	ReleaseURL      *string
	ReleaseDraft    *bool
	ReportError     *string
	ReportedFinal   *bool
}

// RecordReport records what was reported of run id. It does not touch
// updated_at: reporting is not a change of the run.
func (db *DB) RecordReport(ctx context.Context, id int64, u ReportUpdate) error {
	return db.withRetry(ctx, "record report", func(ctx context.Context) error {
		q := db.Bun.NewUpdate().Model((*Run)(nil)).Where("id = ?", id)
		n := 0
		set := func(col string, v any) {
			q = q.Set("? = ?", bun.Ident(col), v)
			n++
		}
		if u.CheckRunID != nil {
			set("check_run_id", *u.CheckRunID)
		}
		if u.AnnotationsSent != nil {
			set("annotations_sent", *u.AnnotationsSent)
		}
		if u.CommentID != nil {
			set("comment_id", *u.CommentID)
		}
		if u.ReleaseID != nil {
			set("release_id", *u.ReleaseID)
		}
		if u.ReleaseURL != nil {
			set("release_url", *u.ReleaseURL)
		}
		if u.ReleaseDraft != nil {
			set("release_draft", *u.ReleaseDraft)
		}
		if u.ReportError != nil {
			set("report_error", *u.ReportError)
		}
		if u.ReportedFinal != nil {
			set("reported_final", *u.ReportedFinal)
		}
		if n == 0 {
			return nil
		}
		_, err := q.Exec(ctx)
		return err
	})
}

// SetArtifactURL records where an artifact was published.
func (db *DB) SetArtifactURL(ctx context.Context, id int64, url string) error {
	return db.withRetry(ctx, "artifact url", func(ctx context.Context) error {
		_, err := db.Bun.NewUpdate().Model((*Artifact)(nil)).Set("url = ?", url).Where("id = ?", id).Exec(ctx)
		return err
	})
}

// ErrLocked is returned by TryLock when another worker holds the lock.
var ErrLocked = errors.New("locked by another worker")

var localLocks sync.Map // "ns/id" → *sync.Mutex, for SQLite (one process)

// TryLock takes the lock (namespace ns, id) for the whole cluster of
// workers on this database, without waiting: ErrLocked when another holds
// it. On PostgreSQL it is a session advisory lock on a connection kept for
// the holder; on SQLite (one process) a mutex. Call unlock when done.
func (db *DB) TryLock(ctx context.Context, ns int32, id int64) (unlock func(), err error) {
	if db.Dialect == SQLite {
		m, _ := localLocks.LoadOrStore(fmt.Sprintf("%s/%d/%d", db.path, ns, id), &sync.Mutex{})
		mu := m.(*sync.Mutex)
		if !mu.TryLock() {
			return nil, ErrLocked
		}
		return mu.Unlock, nil
	}
	conn, err := db.SQL.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	key2 := int32(id % (1 << 31))
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1, $2)", ns, key2).Scan(&ok); err != nil {
		conn.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	if !ok {
		conn.Close()
		return nil, ErrLocked
	}
	return func() {
		// A lock whose connection is lost is released by the server.
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1, $2)", ns, key2)
		_ = conn.Close()
	}, nil
}

// SupersededBy returns the runs that run id superseded and whose end
// GitHub does not show yet.
func (db *DB) SupersededBy(ctx context.Context, id int64) ([]int64, error) {
	var ids []int64
	err := db.withRetry(ctx, "superseded runs", func(ctx context.Context) error {
		ids = nil
		return db.Bun.NewSelect().Model((*Run)(nil)).Column("id").
			Where("superseded_by = ? AND reported_final = ? AND installation_id IS NOT NULL", id, false).OrderExpr("id").Scan(ctx, &ids)
	})
	return ids, err
}

// MarkReportedFinal records that GitHub shows run id as it ended, with the
// release releaseURL (empty: none yet). If the run's release changed
// since, nothing is recorded: a later sync shows it.
func (db *DB) MarkReportedFinal(ctx context.Context, id int64, releaseURL string) error {
	return db.withRetry(ctx, "mark reported", func(ctx context.Context) error {
		_, err := db.Bun.NewUpdate().Model((*Run)(nil)).Set("reported_final = ?", true).Set("report_error = ?", "").
			Where("id = ? AND release_url = ?", id, releaseURL).Exec(ctx)
		return err
	})
}
