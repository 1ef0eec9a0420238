package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
)

// The data directory is made absolute when a command opens the store, so
// every artifact location the pipeline records is absolute (a relative
// DATA_DIR made releases go out with only build.log and SHA256SUMS).
func TestDataDirIsResolvedToAnAbsolutePath(t *testing.T) {
	tests := []struct {
		name, env, flag string
		want            string // relative to the working directory, or absolute
	}{
		{name: "DATA_DIR unset", want: "data"},
		{name: "relative DATA_DIR", env: "state/bot", want: "state/bot"},
		{name: "relative --data-dir", flag: "x", want: "x"},
		{name: "absolute DATA_DIR", env: "/ABS", want: "/ABS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wd := t.TempDir()
			t.Chdir(wd)
			env := tc.env
			if env == "/ABS" {
				env = filepath.Join(t.TempDir(), "abs")
			}
			t.Setenv("DATA_DIR", env)
			t.Setenv("DATABASE_URL", "")
			var sf storeFlags
			cmd := &cobra.Command{}
			sf.register(cmd)
			if tc.flag != "" {
				if err := cmd.Flags().Set("data-dir", tc.flag); err != nil {
					t.Fatal(err)
				}
			}
			db, err := sf.open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			want := tc.want
			if want == "/ABS" {
				want = env
			} else {
				want = filepath.Join(wd, want)
			}
			if sf.dataDir != want || !filepath.IsAbs(sf.dataDir) {
				t.Fatalf("data dir %q, want %q", sf.dataDir, want)
			}
			if got := workDir(sf.dataDir); got != filepath.Join(want, "work") {
				t.Fatalf("work dir %q", got)
			}
			if _, err := os.Stat(want); err != nil {
				t.Fatalf("data dir not made: %v", err)
			}
		})
	}
}
