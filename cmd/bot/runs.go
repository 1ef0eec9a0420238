package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/linux-builder/linux-builder/internal/run"
	"github.com/linux-builder/linux-builder/internal/store"
)

// runView is a run as `bot runs` prints it (and as --json emits it).
type runView struct {
	ID            int64          `json:"id"`
	Status        string         `json:"status"`
	Step          string         `json:"step"`
	Trigger       string         `json:"trigger"`
	Repo          string         `json:"repo,omitempty"`
	Ref           string         `json:"ref,omitempty"`
	HeadSHA       string         `json:"head_sha,omitempty"`
	SpecHash      string         `json:"spec_hash,omitempty"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	FailureReason string         `json:"failure_reason,omitempty"`
	PartialReason string         `json:"partial_reason,omitempty"`
	ReleaseURL    string         `json:"release_url,omitempty"`
	Steps         []stepView     `json:"steps,omitempty"`
	Artifacts     []artifactView `json:"artifacts,omitempty"`
}

type stepView struct {
	Step       string `json:"step"`
	Status     string `json:"status"`
	DurationMS int64  `json:"duration_ms"`
}

type artifactView struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	URL    string `json:"url,omitempty"`
}

func viewOf(r *store.Run) runView {
	return runView{ID: r.ID, Status: string(r.Status), Step: string(r.Step), Trigger: string(r.Trigger), Repo: r.Repo, Ref: r.Ref,
		HeadSHA: r.HeadSHA, SpecHash: r.SpecHash, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, FailureReason: r.FailureReason,
		PartialReason: r.PartialReason, ReleaseURL: r.ReleaseURL}
}

func newRunsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List runs and show one (steps, artifacts, log) from the store",
	}
	cmd.AddCommand(newRunsListCmd(), newRunsShowCmd())
	return cmd
}

func newRunsListCmd() *cobra.Command {
	var (
		sf     storeFlags
		f      store.RunFilter
		status string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Long: `list prints runs, newest first, filtered by --repo, --ref and --status
(PENDING, IN_PROGRESS, SUCCESS, FAILED, CANCELLED). Pages: --limit (at most
500) and --before ID (the last id of the previous page).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.Status = run.Status(status)
			if status != "" && !validStatus(f.Status) {
				return fmt.Errorf("%w: --status %q: want PENDING, IN_PROGRESS, SUCCESS, FAILED or CANCELLED", errUsage, status)
			}
			if f.Limit < 0 || f.Limit > 500 || f.BeforeID < 0 {
				return fmt.Errorf("%w: --limit must be 1..500 and --before a run id", errUsage)
			}
			ctx := cmd.Context()
			db, err := sf.openReady(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			runs, err := db.ListRuns(ctx, f)
			if err != nil {
				return err
			}
			views := make([]runView, len(runs))
			for i := range runs {
				views[i] = viewOf(&runs[i])
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), views)
			}
			return printRuns(cmd.OutOrStdout(), views)
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&f.Repo, "repo", "", "only runs of this repository (owner/name)")
	cmd.Flags().StringVar(&f.Ref, "ref", "", "only runs of this ref (refs/heads/main)")
	cmd.Flags().StringVar(&status, "status", "", "only runs in this status")
	cmd.Flags().Int64Var(&f.BeforeID, "before", 0, "only runs with a smaller id (paging)")
	cmd.Flags().IntVar(&f.Limit, "limit", 50, "at most this many runs (1..500)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// openReady opens the store and checks that its schema is current (a
// database never migrated says so, instead of "no such table").
func (f *storeFlags) openReady(ctx context.Context) (*store.DB, error) {
	db, err := f.openMigrated(ctx, false)
	if err != nil {
		return nil, err
	}
	if err := db.Ready(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func validStatus(s run.Status) bool {
	switch s {
	case run.StatusPending, run.StatusInProgress, run.StatusSuccess, run.StatusFailed, run.StatusCancelled:
		return true
	}
	return false
}

func printRuns(w io.Writer, runs []runView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tSTEP\tTRIGGER\tREPO\tREF\tCREATED")
	for _, r := range runs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, printable(r.Status), printable(r.Step), printable(r.Trigger),
			printable(orDash(r.Repo)), printable(orDash(r.Ref)), r.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newRunsShowCmd() *cobra.Command {
	var (
		sf     storeFlags
		lines  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show a run: status, steps with durations, artifacts and the end of its log",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("%w: run id %q is not a positive number", errUsage, args[0])
			}
			if lines < 0 || lines > 10000 {
				return fmt.Errorf("%w: --log-lines must be 0..10000", errUsage)
			}
			ctx := cmd.Context()
			db, err := sf.openReady(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			r, err := db.Run(ctx, id)
			if err != nil {
				return err
			}
			v := viewOf(r)
			steps, err := db.Steps(ctx, id)
			if err != nil {
				return err
			}
			for _, s := range steps {
				v.Steps = append(v.Steps, stepView{Step: string(s.Step), Status: string(s.Status), DurationMS: s.DurationMS})
			}
			arts, err := db.Artifacts(ctx, id)
			if err != nil {
				return err
			}
			for _, a := range arts {
				v.Artifacts = append(v.Artifacts, artifactView{Name: a.Name, Type: string(a.Type), Size: a.Size, SHA256: a.SHA256, URL: a.URL})
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			logs, err := tailLogs(cmd, db, id, lines)
			if err != nil {
				return err
			}
			return printRun(cmd.OutOrStdout(), v, logs)
		},
	}
	sf.register(cmd)
	cmd.Flags().IntVar(&lines, "log-lines", 40, "print the last N lines of the run's log")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (without the log)")
	return cmd
}

// tailLogs returns the last n lines of run id's log, reading it in pages
// (a run keeps at most its log cap of lines).
func tailLogs(cmd *cobra.Command, db *store.DB, id int64, n int) ([]store.RunLog, error) {
	if n == 0 {
		return nil, nil
	}
	var tail []store.RunLog
	after := int64(0)
	for {
		page, err := db.Logs(cmd.Context(), id, after, 1000)
		if err != nil {
			return nil, err
		}
		tail = append(tail, page...)
		if len(tail) > n {
			tail = append([]store.RunLog(nil), tail[len(tail)-n:]...)
		}
		if len(page) < 1000 {
			return tail, nil
		}
		after = page[len(page)-1].ID
	}
}

func printRun(w io.Writer, v runView, logs []store.RunLog) error {
	fmt.Fprintf(w, "run %d: %s (%s), %s", v.ID, printable(v.Status), printable(v.Step), printable(v.Trigger))
	if v.Repo != "" {
		fmt.Fprintf(w, " of %s %s %s", printable(v.Repo), printable(v.Ref), printable(v.HeadSHA))
	}
	fmt.Fprintf(w, "\ncreated %s, updated %s\n", v.CreatedAt.UTC().Format(time.RFC3339), v.UpdatedAt.UTC().Format(time.RFC3339))
	for _, s := range []struct{ label, text string }{{"failed", v.FailureReason}, {"image only", v.PartialReason}, {"release", v.ReleaseURL}} {
		if s.text != "" {
			fmt.Fprintf(w, "%s: %s\n", s.label, printable(s.text))
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(v.Steps) > 0 {
		fmt.Fprintln(tw, "\nSTEP\tSTATUS\tDURATION")
		for _, s := range v.Steps {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", printable(s.Step), printable(s.Status), (time.Duration(s.DurationMS) * time.Millisecond).String())
		}
	}
	if len(v.Artifacts) > 0 {
		fmt.Fprintln(tw, "\nARTIFACT\tTYPE\tSIZE\tSHA256")
		for _, a := range v.Artifacts {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", printable(a.Name), printable(a.Type), a.Size, printable(a.SHA256))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(logs) > 0 {
		fmt.Fprintf(w, "\nlast %d log lines:\n", len(logs))
		for _, l := range logs {
			fmt.Fprintf(w, "%s %-5s %s %s\n", l.At.UTC().Format(time.TimeOnly), printable(string(l.Level)), printable(string(l.Step)), printable(l.Message))
		}
	}
	return nil
}

// printable replaces control and format characters (a build's log, its
// failure reason and a repository's names are strangers' text: escape
// sequences must not drive the operator's terminal, nor bidirectional
// overrides reorder what it shows).
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || (!unicode.IsControl(r) && !unicode.Is(unicode.Cf, r)) {
			return r
		}
		return '\uFFFD'
	}, s)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
