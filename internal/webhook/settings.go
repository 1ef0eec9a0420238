package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Settings are the receiver's settings: one definition that `bot serve`
// and the lean receiver (cmd/webhook) both read the same way. Each is a
// flag whose default comes from an environment variable (a flag given
// wins); the webhook secret is environment only, as a flag would show it
// to every user of the machine.
//
//	flag                     environment              default
//	(none)                   GITHUB_WEBHOOK_SECRET    required
//	--app-id                 GITHUB_APP_ID            required
//	--addr                   HOST, PORT               :8080
//	--path                   WEBHOOK_PATH             /webhook
//	--spec-path              SPEC_PATH                linux-build.yaml
//	--database-url           DATABASE_URL             (bot serve: SQLite in --data-dir)
//	--migrate                MIGRATE                  bot serve true, the receiver false
//	--intake-committers      INTAKE_COMMITTERS        2
//	--intake-batch           INTAKE_BATCH             256
//	--webhook-body-budget    WEBHOOK_BODY_BUDGET      32 MiB
//	--webhook-max-conns      WEBHOOK_MAX_CONNS        4096
//	--webhook-replay-window  WEBHOOK_REPLAY_WINDOW    24h (0: off)
//	--trusted-proxies        TRUSTED_PROXIES          none
//	--proxy-header           PROXY_HEADER             X-Real-IP
type Settings struct {
	Secret       string
	AppID        int64
	Addr         string
	Path         string
	SpecPath     string
	DatabaseURL  string
	Migrate      bool
	Committers   int
	Batch        int
	BodyBudget   int64
	MaxConns     int
	ReplayWindow time.Duration
	// TrustedProxies are the reverse proxies (addresses or CIDR ranges,
	// comma-separated) whose ProxyHeader names the client: every
	// per-address limit (failed sign-ins, browsers' rate, live streams)
	// keys on the client's address, which behind a proxy is the proxy's.
	TrustedProxies string
	ProxyHeader    string
	// envErr is the first environment value that did not parse
	// (reported by Validate: flags are registered before anything can
	// fail).
	envErr error
}

// FlagSet is what Settings registers its flags on: a *flag.FlagSet or a
// cobra command's *pflag.FlagSet.
type FlagSet interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
	IntVar(p *int, name string, value int, usage string)
	Int64Var(p *int64, name string, value int64, usage string)
	DurationVar(p *time.Duration, name string, value time.Duration, usage string)
}

// SettingsFromEnv reads the settings from the environment (getenv is
// os.Getenv) over the defaults; migrate is the default of MIGRATE. A
// value that does not parse is reported by Validate.
func SettingsFromEnv(getenv func(string) string, migrate bool) *Settings {
	s := &Settings{Secret: getenv("GITHUB_WEBHOOK_SECRET"), Path: "/webhook", SpecPath: "linux-build.yaml",
		DatabaseURL: getenv("DATABASE_URL"), Migrate: migrate, Committers: 2, Batch: 256,
		BodyBudget: DefaultBodyBudget, MaxConns: DefaultMaxConns, ReplayWindow: DefaultReplayWindow,
		TrustedProxies: getenv("TRUSTED_PROXIES"), ProxyHeader: "X-Real-IP"}
	if v := getenv("PROXY_HEADER"); v != "" {
		s.ProxyHeader = v
	}
	fail := func(err error) {
		if s.envErr == nil {
			s.envErr = err
		}
	}
	if v := getenv("GITHUB_APP_ID"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fail(fmt.Errorf("GITHUB_APP_ID %q: want the GitHub App's numeric id", v))
		}
		s.AppID = id
	}
	port := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	s.Addr = net.JoinHostPort(getenv("HOST"), port)
	for name, p := range map[string]*string{"WEBHOOK_PATH": &s.Path, "SPEC_PATH": &s.SpecPath} {
		if v := getenv(name); v != "" {
			*p = v
		}
	}
	if v := getenv("MIGRATE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fail(fmt.Errorf("MIGRATE %q: want true or false", v))
		}
		s.Migrate = b
	}
	for name, p := range map[string]*int{"INTAKE_COMMITTERS": &s.Committers, "INTAKE_BATCH": &s.Batch} {
		if v := getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				fail(fmt.Errorf("%s %q: want a positive number", name, v))
			}
			*p = n
		}
	}
	var limits Config
	if err := LimitsFromEnv(&limits, getenv); err != nil {
		fail(err)
	}
	if limits.BodyBudget != 0 {
		s.BodyBudget = limits.BodyBudget
	}
	if limits.MaxConns != 0 {
		s.MaxConns = limits.MaxConns
	}
	switch {
	case limits.ReplayWindow < 0:
		s.ReplayWindow = 0 // off
	case limits.ReplayWindow > 0:
		s.ReplayWindow = limits.ReplayWindow
	}
	return s
}

// Register adds the settings' flags to fs, their defaults the values read
// from the environment.
func (s *Settings) Register(fs FlagSet) {
	fs.Int64Var(&s.AppID, "app-id", s.AppID, "the GitHub App's numeric id (env GITHUB_APP_ID)")
	fs.StringVar(&s.Addr, "addr", s.Addr, "listen address (env HOST, PORT)")
	fs.StringVar(&s.Path, "path", s.Path, "webhook path (env WEBHOOK_PATH)")
	fs.StringVar(&s.SpecPath, "spec-path", s.SpecPath, "path of the spec in repositories (env SPEC_PATH)")
	fs.StringVar(&s.DatabaseURL, "database-url", s.DatabaseURL, "postgres:// URL (env DATABASE_URL); bot serve: empty means a SQLite file in --data-dir")
	fs.BoolVar(&s.Migrate, "migrate", s.Migrate, "apply pending migrations at start (env MIGRATE)")
	fs.IntVar(&s.Committers, "intake-committers", s.Committers, "transactions recording deliveries at once, group commit (env INTAKE_COMMITTERS)")
	fs.IntVar(&s.Batch, "intake-batch", s.Batch, "most deliveries recorded in one transaction (env INTAKE_BATCH)")
	fs.Int64Var(&s.BodyBudget, "webhook-body-budget", s.BodyBudget, "bytes of request bodies held in memory at once, at least 25 MiB (env WEBHOOK_BODY_BUDGET)")
	fs.IntVar(&s.MaxConns, "webhook-max-conns", s.MaxConns, "open connections (env WEBHOOK_MAX_CONNS)")
	fs.DurationVar(&s.ReplayWindow, "webhook-replay-window", s.ReplayWindow, "how long a delivered body is remembered against replays; 0: off (env WEBHOOK_REPLAY_WINDOW)")
	fs.StringVar(&s.TrustedProxies, "trusted-proxies", s.TrustedProxies, "reverse proxies (addresses or CIDR ranges, comma-separated) whose --proxy-header names the client (env TRUSTED_PROXIES)")
	fs.StringVar(&s.ProxyHeader, "proxy-header", s.ProxyHeader, "the header a trusted proxy sets to the client's address; the proxy must overwrite it, not append to it (env PROXY_HEADER)")
}

// proxies parses TrustedProxies: each an IP address or a CIDR range.
func (s *Settings) proxies() ([]string, error) {
	var out []string
	for _, p := range strings.Split(s.TrustedProxies, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				return nil, fmt.Errorf("--trusted-proxies (TRUSTED_PROXIES): %q is neither an IP address nor a CIDR range such as 10.0.0.0/8", p)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// validProxyHeader refuses a header a client could forge past the proxy
// or that is not a header name. X-Forwarded-For is refused: proxies append
// to it, and the client's own value comes first, where Fiber reads it.
func validProxyHeader(h string) error {
	if h == "" || len(h) > 64 || strings.ContainsFunc(h, func(r rune) bool {
		return r != '-' && (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z')
	}) {
		return fmt.Errorf("--proxy-header (PROXY_HEADER) %q: want a header name such as X-Real-IP", h)
	}
	if strings.EqualFold(h, "X-Forwarded-For") {
		return errors.New("--proxy-header (PROXY_HEADER) X-Forwarded-For: proxies append to it and its first address is the client's to choose; have the proxy set X-Real-IP (nginx: proxy_set_header X-Real-IP $remote_addr) and use that")
	}
	return nil
}

// Validate reports an environment value that did not parse, then what is
// missing or out of range.
func (s *Settings) Validate() error {
	switch {
	case s.envErr != nil:
		return s.envErr
	case s.Secret == "":
		return errors.New("GITHUB_WEBHOOK_SECRET is required: the bot does not accept unsigned webhooks")
	case s.AppID <= 0:
		return errors.New("GITHUB_APP_ID is required (or --app-id): the GitHub App's numeric id (deliveries are recorded and deduplicated per app)")
	case s.Committers <= 0 || s.Batch <= 0:
		return fmt.Errorf("--intake-committers %d, --intake-batch %d: want positive numbers", s.Committers, s.Batch)
	case s.BodyBudget <= 0 || s.MaxConns <= 0 || s.ReplayWindow < 0:
		return fmt.Errorf("--webhook-body-budget %d, --webhook-max-conns %d, --webhook-replay-window %s: want positive numbers and a duration of 0 or more",
			s.BodyBudget, s.MaxConns, s.ReplayWindow)
	}
	if _, err := s.proxies(); err != nil {
		return err
	}
	return validProxyHeader(s.ProxyHeader)
}

// Apply sets cfg's receiver settings (secret, app id, paths, limits) from
// s; cfg keeps its Store, Intake and Logger.
func (s *Settings) Apply(cfg *Config) {
	cfg.Secret, cfg.AppID, cfg.Path, cfg.SpecPath = s.Secret, s.AppID, s.Path, s.SpecPath
	cfg.BodyBudget, cfg.MaxConns, cfg.ReplayWindow = s.BodyBudget, s.MaxConns, s.ReplayWindow
	if s.ReplayWindow == 0 {
		cfg.ReplayWindow = -1 // Config: negative is off, 0 the default
	}
	cfg.TrustedProxies, _ = s.proxies() // Validate refused a bad one
	cfg.ProxyHeader = s.ProxyHeader
}
