package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/linux-builder/linux-builder/internal/artifacts"
	"github.com/linux-builder/linux-builder/internal/pipeline"
	"github.com/linux-builder/linux-builder/internal/render"
	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/spec"
	"github.com/linux-builder/linux-builder/internal/store"
)

func newBuildCmd() *cobra.Command {
	var (
		sf      storeFlags
		pf      pipelineFlags
		out     string
		distro  string
		outputs []string
		noCache bool
	)
	cmd := &cobra.Command{
		Use:   "build SPEC",
		Short: "Build a spec locally: image, ISO, disk images and boot test, no GitHub",
		Long: `Build runs the whole pipeline on this machine: validate, render, docker build,
save the image, make a hybrid BIOS+UEFI ISO and the disk images the spec's
outputs ask for (linux.qcow2, linux.raw.zst), and boot them in QEMU until they
report in. Runs are recorded in the store (a SQLite file in --data-dir by default);
artifacts go to the artifact store (--artifact-store, ARTIFACT_STORE; default
<data-dir>/artifacts, as runs/<run>/<name>) and are copied into -o DIR.
--outputs iso,qcow2 replaces the spec's outputs (outputs: in the file) for
this build (iso, qcow2, raw). An unchanged spec reuses the previous run's
artifacts. Ctrl-C cancels the run
and cleans up. Exit status: 0 COMPLETE, 1 FAILED or CANCELLED.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%w: build needs exactly one SPEC", errUsage)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			src, err := readSpec(cmd.InOrStdin(), args[0])
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("outputs") {
				if src, err = overrideOutputs(args[0], src, outputs); err != nil {
					return err
				}
			}
			db, err := sf.openMigrated(ctx, true)
			if err != nil {
				return err
			}
			defer db.Close()
			as, err := openArtifacts(ctx, pf.artifactStore, sf.dataDir)
			if err != nil {
				return err
			}
			defer as.Close()
			rn := &store.Run{Trigger: run.TriggerCLI, Repo: "local", SpecPath: args[0], SpecSource: string(src), Distro: distro,
				RequestedBy: os.Getenv("USER"), NoCache: noCache}
			if err := db.CreateRun(ctx, rn); err != nil {
				return err
			}
			display := newDisplay(cmd.OutOrStdout())
			p, closeEngine, err := newPipeline(ctx, db, sf.dataDir, pf, []pipeline.Reporter{display}, nil, nil, as)
			if err != nil {
				return err
			}
			defer closeEngine()
			fmt.Fprintf(cmd.OutOrStdout(), "run %d: building %s\n", rn.ID, args[0])
			if err := p.Run(ctx, rn.ID); err != nil {
				return err
			}
			display.finish()
			return summarize(context.WithoutCancel(ctx), cmd.OutOrStdout(), db, as, rn.ID, out)
		},
	}
	sf.register(cmd)
	pf.register(cmd.Flags())
	cmd.Flags().BoolVar(&pf.keepImage, "keep-image", true, "keep the built image in the engine")
	cmd.Flags().StringVarP(&out, "output", "o", "", "also copy the artifacts into this directory")
	cmd.Flags().StringVar(&distro, "distro", "", "build for this distribution instead of the spec's base")
	cmd.Flags().StringSliceVar(&outputs, "outputs", nil, "make these outputs instead of the spec's outputs: iso, qcow2, raw")
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "build fresh: reuse no earlier run's artifacts and no cached layer (picks up the distribution's updates)")
	return cmd
}

// overrideOutputs puts the --outputs list in the spec's text, in place of
// its own outputs: the run records, validates and builds the spec as
// built, and the rewrite moves no other line, so diagnostics still point
// into the file the user has.
func overrideOutputs(file string, src []byte, names []string) ([]byte, error) {
	outs, err := spec.ParseOutputs(names)
	if err != nil {
		return nil, fmt.Errorf("%w: --outputs: %v", errUsage, err)
	}
	out, err := spec.SetOutputs(file, src, outs)
	if err != nil {
		return nil, fmt.Errorf("--outputs: %w", err)
	}
	return out, nil
}

// summarize prints the run's outcome, steps and artifacts, and copies the
// artifacts from the artifact store into out.
func summarize(ctx context.Context, w io.Writer, db *store.DB, as *artifacts.Store, runID int64, out string) error {
	r, err := db.Run(ctx, runID)
	if err != nil {
		return err
	}
	steps, err := db.Steps(ctx, runID)
	if err != nil {
		return err
	}
	arts, err := db.Artifacts(ctx, runID)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nrun %d %s (%s) in %s\n", r.ID, r.Status, r.Step, (time.Duration(r.BuildDuration) * time.Millisecond).Round(100*time.Millisecond))
	if r.FailureReason != "" {
		fmt.Fprintf(w, "  %s\n", r.FailureReason)
	}
	fmt.Fprintln(w, "\nsteps:")
	for _, s := range steps {
		fmt.Fprintf(w, "  %-15s %-9s %8s\n", s.Step, s.Status, (time.Duration(s.DurationMS) * time.Millisecond).Round(100*time.Millisecond))
	}
	if len(arts) > 0 {
		fmt.Fprintln(w, "\nartifacts:")
	}
	if out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return fmt.Errorf("output directory: %w", err)
		}
	}
	for _, a := range arts {
		where := a.Location // an image reference, or a row from before the store
		if a.Key != "" {
			where = as.String() + "/" + a.Key
		}
		if out != "" && a.Key != "" {
			dst := filepath.Join(out, a.Name)
			if err := download(ctx, as, a, dst); err != nil {
				return err
			}
			where = dst
		}
		fmt.Fprintf(w, "  %-16s %10s  sha256:%s  %s\n", a.Name, render.HumanSize(a.Size), a.SHA256, where)
	}
	if r.Status != run.StatusSuccess {
		return exitError{code: 1}
	}
	return nil
}

// display is the terminal reporter: step changes as lines; on a terminal
// the latest log line is redrawn in place with the step's elapsed time,
// elsewhere every log line is printed.
type display struct {
	mu        sync.Mutex
	w         io.Writer
	tty       bool
	step      run.State
	stepStart time.Time
	drawn     bool
}

var _ pipeline.Reporter = (*display)(nil)

func newDisplay(w io.Writer) *display {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd())
	}
	return &display{w: w, tty: tty, stepStart: time.Now()}
}

func (d *display) Transition(_ context.Context, _ int64, from, to run.State, note string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clear()
	if from != run.Pending {
		mark := map[run.State]string{run.Failed: "✗", run.Cancelled: "⊘"}[to]
		if mark == "" {
			mark = "✓"
		}
		fmt.Fprintf(d.w, "%s %-15s %s\n", mark, from, time.Since(d.stepStart).Round(100*time.Millisecond))
	}
	switch {
	case to.Terminal() && note != "":
		fmt.Fprintf(d.w, "■ %s: %s\n", to, note)
	case to.Terminal():
		fmt.Fprintf(d.w, "■ %s\n", to)
	default:
		d.step, d.stepStart = to, time.Now()
		fmt.Fprintf(d.w, "● %s\n", to)
	}
}

func (d *display) Log(_ context.Context, l pipeline.LogLine) {
	d.mu.Lock()
	defer d.mu.Unlock()
	msg := strings.TrimSpace(l.Message)
	if !d.tty {
		fmt.Fprintf(d.w, "  [%s] %s\n", l.Step, msg)
		return
	}
	if len(msg) > 100 {
		msg = msg[:100] + "…"
	}
	d.clear()
	fmt.Fprintf(d.w, "  %s %s  %s", l.Step, time.Since(d.stepStart).Round(time.Second), msg)
	d.drawn = true
}

func (d *display) clear() {
	if d.tty && d.drawn {
		fmt.Fprint(d.w, "\r\033[K")
		d.drawn = false
	}
}

func (d *display) finish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clear()
}

// download streams artifact a from the store into dst, checked against its
// record; dst appears only complete.
func download(ctx context.Context, as *artifacts.Store, a store.Artifact, dst string) error {
	if a.Name != filepath.Base(a.Name) {
		return fmt.Errorf("artifact name %q is not a file name", a.Name)
	}
	r, _, err := as.Get(ctx, a.Key)
	if err != nil {
		return err
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+a.Name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, artifacts.Verify(r, artifacts.Object{Key: a.Key, Size: a.Size, SHA256: a.SHA256}))
	if err = errors.Join(err, tmp.Chmod(0o644), tmp.Close()); err != nil {
		return fmt.Errorf("copy %s: %w", a.Name, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("copy %s: %w", a.Name, err)
	}
	return nil
}
