package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	linuxbuilder "github.com/linux-builder/linux-builder"
	"github.com/linux-builder/linux-builder/internal/ai"
)

// aiFlags configure the AI service (Ollama).
type aiFlags struct {
	url, model string
	attempts   int
	timeout    time.Duration
}

func (f *aiFlags) register(cmd *cobra.Command) {
	url := os.Getenv("OLLAMA_URL")
	if url == "" {
		url = "http://127.0.0.1:11434"
	}
	model := os.Getenv("OLLAMA_MODEL")
	if model == "" {
		model = "linux-builder"
	}
	cmd.Flags().StringVar(&f.url, "ollama-url", url, "Ollama server (env OLLAMA_URL)")
	cmd.Flags().StringVar(&f.model, "model", model, "model (env OLLAMA_MODEL)")
	cmd.Flags().IntVar(&f.attempts, "attempts", 3, "answers the model gets to produce a valid spec")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 5*time.Minute, "longest wait for one answer")
}

func (f *aiFlags) generator() (*ai.Generator, error) {
	g, err := ai.NewGenerator(&ai.Client{URL: f.url, Model: f.model, Timeout: f.timeout}, linuxbuilder.Templates, linuxbuilder.Example)
	if err != nil {
		return nil, err
	}
	g.Attempts = f.attempts
	return g, nil
}

func newGenerateCmd() *cobra.Command {
	var af aiFlags
	cmd := &cobra.Command{
		Use:   "generate DESCRIPTION...",
		Short: "Turn a plain-English description into a valid linux-build.yaml (with Ollama)",
		Long: `generate asks the model for a spec matching the description, validates it, sends
the errors back until it is valid (--attempts), and prints linux-build.yaml on
standard output; warnings go to standard error. Exit status 1 when the model
never produced a valid spec (the remaining errors are printed) or the AI
service failed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := af.generator()
			if err != nil {
				return err
			}
			g.Log = func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), "generate:", msg) }
			res, err := g.Generate(cmd.Context(), strings.Join(args, " "))
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), w.String())
			}
			_, err = cmd.OutOrStdout().Write(res.YAML)
			return err
		},
	}
	af.register(cmd)
	return cmd
}
