// Package logging builds the process logger: tint's coloured handler when
// writing to a terminal, JSON otherwise, as chosen by LOG_FORMAT and
// LOG_LEVEL.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/lmittmann/tint"
	"github.com/mattn/go-isatty"
)

// Options configures New.
type Options struct {
	// Format is "text" (tint), "json", or "auto"/"" (text on a terminal,
	// JSON otherwise).
	Format string
	// Level is debug, info, warn or error; "" means info.
	Level string
}

// FromEnv reads Options from LOG_FORMAT and LOG_LEVEL.
func FromEnv() Options {
	return Options{Format: os.Getenv("LOG_FORMAT"), Level: os.Getenv("LOG_LEVEL")}
}

// New returns a logger writing to w.
func New(w io.Writer, opts Options) (*slog.Logger, error) {
	var level slog.Level
	if opts.Level != "" {
		if err := level.UnmarshalText([]byte(opts.Level)); err != nil {
			return nil, fmt.Errorf("log level %q: want debug, info, warn or error", opts.Level)
		}
	}
	format := strings.ToLower(opts.Format)
	if format == "" || format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: level, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)})), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), nil
	default:
		return nil, fmt.Errorf("log format %q: want text, json or auto", opts.Format)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
