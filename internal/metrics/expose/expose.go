// Package expose says where a process serves its Prometheus metrics
// (METRICS_ADDR, or the main port behind METRICS_TOKEN) and guards them
// with the bearer token. It imports no metrics library: the lean receiver
// links it with its own small exposition (metrics/lean), the bot with
// client_golang's (package metrics).
package expose

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/linux-builder/linux-builder/internal/logging"
)

// Settings say where /metrics is served:
//
//	flag            environment     meaning
//	--metrics-addr  METRICS_ADDR    a listener of its own (e.g. 127.0.0.1:9090)
//	(none)          METRICS_TOKEN   the bearer token scrapers send; with no
//	                                METRICS_ADDR, /metrics is on the main port
//	                                behind it (environment only, as a secret)
//
// Neither set: /metrics is not served (and the log says so). Both set:
// the listener of its own asks for the token too.
type Settings struct {
	Addr  string
	Token string
}

// MinTokenLength is the shortest METRICS_TOKEN accepted: the main port
// faces the internet.
const MinTokenLength = 16

// FlagSet is what Settings registers its flag on (a *flag.FlagSet or a
// cobra command's *pflag.FlagSet).
type FlagSet interface {
	StringVar(p *string, name, value, usage string)
}

// SettingsFromEnv reads METRICS_ADDR and METRICS_TOKEN (getenv is
// os.Getenv).
func SettingsFromEnv(getenv func(string) string) *Settings {
	return &Settings{Addr: strings.TrimSpace(getenv("METRICS_ADDR")), Token: getenv("METRICS_TOKEN")}
}

// Register adds --metrics-addr, defaulting to METRICS_ADDR.
func (s *Settings) Register(fs FlagSet) {
	fs.StringVar(&s.Addr, "metrics-addr", s.Addr, "serve Prometheus metrics (/metrics) on this address of their own, e.g. 127.0.0.1:9090 (METRICS_ADDR; without it, the main port serves them when METRICS_TOKEN is set)")
}

// Validate checks the address and the token's strength.
func (s *Settings) Validate() error {
	if s.Addr != "" {
		if _, _, err := net.SplitHostPort(s.Addr); err != nil {
			return fmt.Errorf("METRICS_ADDR (--metrics-addr) %q: want host:port, such as 127.0.0.1:9090: %w", s.Addr, err)
		}
	}
	if s.Token != "" && (len(s.Token) < MinTokenLength || strings.TrimSpace(s.Token) != s.Token) {
		return fmt.Errorf("METRICS_TOKEN: want at least %d characters without surrounding spaces (openssl rand -hex 32)", MinTokenLength)
	}
	return nil
}

// Exposure is where a process serves its metrics (Expose).
type Exposure struct {
	// MainPort is the handler to mount at /metrics on the process's main
	// port (behind the token), or nil.
	MainPort http.Handler
	// Addr is the address of the listener of its own, or nil.
	Addr net.Addr
	// done has the listener's end (nil when none).
	done chan error
}

// Wait returns once the listener of its own has stopped (at once without
// one), with its error.
func (e *Exposure) Wait() error {
	if e.done == nil {
		return nil
	}
	return <-e.done
}

// Expose serves the metrics handler h as s says until ctx is done: on a listener of
// its own (s.Addr), or on the main port (the Exposure's MainPort, for the
// caller to mount; only when mainPort says the process has one). What it
// does, or why it serves nothing, is logged.
func (s *Settings) Expose(ctx context.Context, h http.Handler, log *slog.Logger, mainPort bool) (*Exposure, error) {
	if s.Token != "" {
		h = RequireToken(s.Token, h)
	}
	switch {
	case s.Addr != "":
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			return nil, fmt.Errorf("metrics: listen on METRICS_ADDR %s: %w", s.Addr, err)
		}
		e := &Exposure{Addr: ln.Addr(), done: make(chan error, 1)}
		go func() {
			err := serve(ctx, ln, h)
			if err != nil {
				log.Error("metrics listener stopped", logging.KeyErr, err)
			}
			e.done <- err
		}()
		log.Info("serving metrics", "addr", ln.Addr().String(), "path", "/metrics", "token", s.Token != "")
		return e, nil
	case s.Token != "" && mainPort:
		log.Info("serving metrics on the main port", "path", "/metrics", "token", true)
		return &Exposure{MainPort: h}, nil
	case s.Token != "":
		log.Warn("metrics are not served: METRICS_TOKEN is set, but this process has no main port; set METRICS_ADDR")
	default:
		log.Info("metrics are not served: set METRICS_ADDR (a listener of their own) or METRICS_TOKEN (the main port's /metrics, behind that bearer token)")
	}
	return &Exposure{}, nil
}

// serve answers /metrics on ln until ctx is done, then shuts down.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 8 << 10}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("metrics: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("metrics: shut down: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve: %w", err)
	}
	return nil
}

// RequireToken answers 401 to a request without "Authorization: Bearer
// token". The comparison takes the same time whatever the sent value (both
// are hashed first, so not even the token's length shows).
func RequireToken(token string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "a bearer token is required (METRICS_TOKEN)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}
