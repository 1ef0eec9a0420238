package access

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

func TestAccess(t *testing.T) {
	inst := int64(5)
	gh := &fakeRepos{private: map[string]bool{"o/pub": false, "o/priv": true}, perms: map[string]string{"o/priv|reader": "read", "o/priv|nobody": "none"}}
	a := &Access{GitHub: gh, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), TokenOf: func(r *store.Run) int64 {
		if r.Trigger == run.TriggerAPI {
			return 77
		}
		return 0
	}}
	ghRun := func(repo string) *store.Run {
		return &store.Run{Repo: repo, InstallationID: &inst, Trigger: run.TriggerPush}
	}
	cases := []struct {
		name string
		v    Viewer
		r    *store.Run
		want bool
	}{
		{"anyone reads a public repository's run", Viewer{}, ghRun("o/pub"), true},
		{"anonymous, private", Viewer{}, ghRun("o/priv"), false},
		{"reader, private", Viewer{Login: "reader"}, ghRun("o/priv"), true},
		{"no permission, private", Viewer{Login: "nobody"}, ghRun("o/priv"), false},
		{"GitHub cannot be asked", Viewer{Login: "reader"}, ghRun("o/broken"), false},
		{"admin token reads all", Viewer{Admin: true, TokenID: 1}, ghRun("o/broken"), true},
		{"a CLI run is admins' only", Viewer{Login: "reader"}, &store.Run{Repo: "local", Trigger: run.TriggerCLI}, false},
		{"an API run is its token's", Viewer{TokenID: 77}, &store.Run{Trigger: run.TriggerAPI}, true},
		{"not another token's", Viewer{TokenID: 78}, &store.Run{Trigger: run.TriggerAPI}, false},
		{"nor a person's", Viewer{Login: "reader"}, &store.Run{Trigger: run.TriggerAPI}, false},
		{"nil run", Viewer{Admin: true}, nil, false},
	}
	for _, c := range cases {
		if got := a.CanRead(context.Background(), c.v, c.r); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

type fakeRepos struct {
	private map[string]bool
	perms   map[string]string
}

func (f *fakeRepos) RepoPrivate(_ context.Context, _ int64, repo string) (bool, error) {
	p, ok := f.private[repo]
	if !ok {
		return true, errors.New("404 Not Found")
	}
	return p, nil
}

func (f *fakeRepos) Permission(_ context.Context, _ int64, repo, user string) (string, error) {
	if p, ok := f.perms[repo+"|"+user]; ok {
		return p, nil
	}
	return "none", nil
}
