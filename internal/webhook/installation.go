package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/go-github/v88/github"

	"github.com/linux-builder/linux-builder/internal/store"
)

// Installations is what installation events need from the store.
type Installations interface {
	UpsertInstallation(ctx context.Context, in *store.Installation) error
	DeleteInstallation(ctx context.Context, id int64) error
	Installation(ctx context.Context, id int64) (*store.Installation, error)
}

// applyInstallation records installation and installation_repositories
// events. It runs before the delivery is recorded; a failure is a 503, so
// GitHub can redeliver and the change is not lost.
func applyInstallation(ctx context.Context, db Installations, event string, body []byte, d *store.Delivery) (store.Intent, error) {
	switch event {
	case "installation":
		var ev github.InstallationEvent
		if err := decodePayload(body, &ev); err != nil {
			return store.Intent{Outcome: store.OutcomeRejected, Reason: "decode installation event: " + err.Error()}, nil
		}
		return applyInstallationEvent(ctx, db, &ev, d)
	case "installation_repositories":
		var ev github.InstallationRepositoriesEvent
		if err := decodePayload(body, &ev); err != nil {
			return store.Intent{Outcome: store.OutcomeRejected, Reason: "decode installation_repositories event: " + err.Error()}, nil
		}
		return applyInstallationRepositories(ctx, db, &ev, d)
	}
	return store.Intent{Outcome: store.OutcomeIgnored}, nil
}

// applyInstallationEvent records an installation created, deleted,
// suspended or given new permissions.
func applyInstallationEvent(ctx context.Context, db Installations, ev *github.InstallationEvent, d *store.Delivery) (store.Intent, error) {
	in := ev.GetInstallation()
	id := in.GetID()
	d.InstallationID, d.Action = &id, ev.GetAction()
	switch ev.GetAction() {
	case "deleted":
		return ignored("installation deleted"), db.DeleteInstallation(ctx, id)
	case "created", "new_permissions_accepted", "suspend", "unsuspend":
	default:
		return ignored("installation action " + ev.GetAction() + " not handled"), nil
	}
	repos := make([]string, 0, len(ev.Repositories))
	for _, r := range ev.Repositories {
		repos = append(repos, r.GetFullName())
	}
	if prev, err := db.Installation(ctx, id); err == nil && len(repos) == 0 {
		repos = prev.Repositories
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return ignored(""), err
	}
	return ignored("installation " + ev.GetAction()), db.UpsertInstallation(ctx, &store.Installation{ID: id, Account: in.GetAccount().GetLogin(),
		Suspended: ev.GetAction() == "suspend" || (in.SuspendedAt != nil && ev.GetAction() != "unsuspend"), Repositories: repos})
}

// applyInstallationRepositories records repositories added to or removed
// from an installation.
func applyInstallationRepositories(ctx context.Context, db Installations, ev *github.InstallationRepositoriesEvent, d *store.Delivery) (store.Intent, error) {
	in := ev.GetInstallation()
	id := in.GetID()
	d.InstallationID, d.Action = &id, ev.GetAction()
	cur := &store.Installation{ID: id, Account: in.GetAccount().GetLogin(), Suspended: in.SuspendedAt != nil}
	if prev, err := db.Installation(ctx, id); err == nil {
		cur = prev
	} else if !errors.Is(err, store.ErrNotFound) {
		return ignored(""), err
	}
	for _, r := range ev.RepositoriesAdded {
		if !slices.Contains(cur.Repositories, r.GetFullName()) {
			cur.Repositories = append(cur.Repositories, r.GetFullName())
		}
	}
	for _, r := range ev.RepositoriesRemoved {
		cur.Repositories = slices.DeleteFunc(cur.Repositories, func(s string) bool { return s == r.GetFullName() })
	}
	return ignored(fmt.Sprintf("repositories %s", ev.GetAction())), db.UpsertInstallation(ctx, cur)
}

// installCacheTTL bounds how stale an installation's settings (suspended,
// spec path) may be in a process that did not receive the change itself.
const installCacheTTL = 30 * time.Second

// installCache keeps installations briefly, so a busy webhook does not
// read the same row for every delivery.
type installCache struct {
	db  Installations
	ttl time.Duration
	mu  sync.Mutex
	m   map[int64]cachedInstall
}

type cachedInstall struct {
	in store.Installation
	at time.Time
}

func newInstallCache(db Installations, ttl time.Duration) *installCache {
	return &installCache{db: db, ttl: ttl, m: map[int64]cachedInstall{}}
}

// get returns installation id (a zero Installation when id is nil or the
// installation was never recorded).
func (c *installCache) get(ctx context.Context, id *int64) (store.Installation, error) {
	if id == nil {
		return store.Installation{}, nil
	}
	c.mu.Lock()
	e, ok := c.m[*id]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.in, nil
	}
	in, err := c.db.Installation(ctx, *id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		in = &store.Installation{ID: *id}
	case err != nil:
		return store.Installation{}, err
	}
	c.mu.Lock()
	c.m[*id] = cachedInstall{*in, time.Now()}
	c.mu.Unlock()
	return *in, nil
}

func (c *installCache) forget(id int64) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// specPath is where installation id keeps its spec.
func (cfg *Config) specPath(ctx context.Context, id *int64) (string, error) {
	in, err := cfg.installs.get(ctx, id)
	if err != nil {
		return "", transientError{fmt.Errorf("read installation: %w", err)}
	}
	if in.SpecPath != "" {
		return in.SpecPath, nil
	}
	return cfg.SpecPath, nil
}
