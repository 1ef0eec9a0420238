package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/linux-builder/linux-builder/internal/spec"
)

func newValidateCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check linux-build.yaml files and print file:line:col diagnostics",
		Long: `Validate decodes each spec (YAML, or JSON for *.json; - reads standard input),
applies the compatibility rules and prints one line per finding:

  file:line:col: error|warning: path: message (hint)

The exit status is 1 when any file has an error, 0 otherwise (warnings alone
do not fail).`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("%w: validate needs at least one FILE", errUsage)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("%w: --format %q: want text or json", errUsage, format)
			}
			var all spec.Diagnostics
			for _, name := range args {
				all = append(all, validateFile(cmd.InOrStdin(), name)...)
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				if err := writeJSONReport(out, all); err != nil {
					return err
				}
			} else {
				for _, d := range all {
					fmt.Fprintln(out, d.String())
				}
			}
			if all.HasErrors() {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// validateFile reads and checks one file; read failures become diagnostics
// so that one unreadable file does not hide the others' results.
func validateFile(stdin io.Reader, name string) spec.Diagnostics {
	src, err := readSpec(stdin, name)
	if err != nil {
		return spec.Diagnostics{{File: name, Severity: spec.SeverityError, Code: spec.CodeEncoding, Message: err.Error()}}
	}
	_, diags := spec.Parse(name, src)
	return diags
}

// readSpec reads at most one byte more than spec.MaxFileSize, so an enormous
// file is rejected without being read whole.
func readSpec(stdin io.Reader, name string) ([]byte, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read spec: %w", err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return nil, fmt.Errorf("read spec: %s is a directory", name)
		}
		r = f
	}
	src, err := io.ReadAll(io.LimitReader(r, spec.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read spec %s: %w", name, err)
	}
	return src, nil
}

func writeJSONReport(w io.Writer, ds spec.Diagnostics) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(spec.NewReport(ds)); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
