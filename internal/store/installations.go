package store

import (
	"context"
	"fmt"
)

// UpsertInstallation records an installation (created, or changed
// repositories or suspension).
func (db *DB) UpsertInstallation(ctx context.Context, in *Installation) error {
	return db.withRetry(ctx, "upsert installation", func(ctx context.Context) error {
		now := db.utcNow()
		in.CreatedAt, in.UpdatedAt = now, now
		if in.Repositories == nil {
			in.Repositories = []string{}
		}
		_, err := db.Bun.NewInsert().Model(in).
			On("CONFLICT (id) DO UPDATE").
			Set("account = EXCLUDED.account, suspended = EXCLUDED.suspended, repositories = EXCLUDED.repositories, updated_at = EXCLUDED.updated_at").
			Exec(ctx)
		return err
	})
}

// Installation returns installation id.
func (db *DB) Installation(ctx context.Context, id int64) (*Installation, error) {
	var in Installation
	err := db.withRetry(ctx, "get installation", func(ctx context.Context) error {
		return db.Bun.NewSelect().Model(&in).Where("id = ?", id).Scan(ctx)
	})
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("installation %d", id))
	}
	return &in, nil
}

// DeleteInstallation forgets installation id (the app was uninstalled).
func (db *DB) DeleteInstallation(ctx context.Context, id int64) error {
	return db.withRetry(ctx, "delete installation", func(ctx context.Context) error {
		_, err := db.Bun.NewDelete().Model((*Installation)(nil)).Where("id = ?", id).Exec(ctx)
		return err
	})
}

// SetSpecPath sets where installation id's repositories keep their spec
// (empty: the bot's default).
func (db *DB) SetSpecPath(ctx context.Context, id int64, path string) error {
	return db.withRetry(ctx, "set spec path", func(ctx context.Context) error {
		r, err := db.Bun.NewUpdate().Model((*Installation)(nil)).Set("spec_path = ?", path).Set("updated_at = ?", db.utcNow()).
			Where("id = ?", id).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("installation %d: %w", id, ErrNotFound)
		}
		return nil
	})
}
