package webhook

import (
	"fmt"
	"strconv"
	"time"
)

// LimitsFromEnv sets cfg's limits from the environment (getenv is
// os.Getenv), leaving the defaults where a variable is unset:
//
//   - WEBHOOK_BODY_BUDGET: bytes of request bodies held in memory at
//     once (default 32 MiB, at least the largest body, 25 MiB);
//   - WEBHOOK_MAX_CONNS: open connections (default 4096);
//   - WEBHOOK_REPLAY_WINDOW: how long a delivered body is remembered, as
//     a Go duration (default 24h; 0 turns the replay check off).
func LimitsFromEnv(cfg *Config, getenv func(string) string) error {
	if v := getenv("WEBHOOK_BODY_BUDGET"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("WEBHOOK_BODY_BUDGET %q: want a positive number of bytes", v)
		}
		cfg.BodyBudget = n
	}
	if v := getenv("WEBHOOK_MAX_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("WEBHOOK_MAX_CONNS %q: want a positive number", v)
		}
		cfg.MaxConns = n
	}
	if v := getenv("WEBHOOK_REPLAY_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("WEBHOOK_REPLAY_WINDOW %q: want a duration such as 24h (0: off)", v)
		}
		if d == 0 {
			d = -1 // Config: negative is off, 0 the default
		}
		cfg.ReplayWindow = d
	}
	return nil
}
