package main

import (
	"fmt"
	"os"
	"time"
)

// defaultStopGrace is how long a stopping worker lets its running builds
// finish before it interrupts them (they are retried, see worker --help).
const defaultStopGrace = 10 * time.Minute

// stopGraceFromEnv reads WORKER_STOP_GRACE: a Go duration from 0s (interrupt
// running builds at once) to 1h; unset is defaultStopGrace.
func stopGraceFromEnv() (time.Duration, error) {
	v := os.Getenv("WORKER_STOP_GRACE")
	if v == "" {
		return defaultStopGrace, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > time.Hour {
		return 0, fmt.Errorf("%w: WORKER_STOP_GRACE=%q: want a duration from 0s to 1h, such as 10m", errUsage, v)
	}
	return d, nil
}
