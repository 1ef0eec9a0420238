package webhook

import (
	"context"
	"fmt"
	"time"
)

// DefaultReplayWindow is how long a delivered body is remembered.
const DefaultReplayWindow = 24 * time.Hour

// replayOf returns the delivery that brought this body before under
// another id within the replay window ("" when none, or no window).
func (cfg *Config) replayOf(ctx context.Context, digest, id string) (string, error) {
	if cfg.ReplayWindow <= 0 {
		return "", nil
	}
	first, err := cfg.Store.PayloadSeen(ctx, cfg.AppID, digest, id, cfg.Now().UTC().Add(-cfg.ReplayWindow))
	if err != nil {
		return "", fmt.Errorf("look up the payload: %w", err)
	}
	return first, nil
}
