package events

import (
	"context"
	"time"
)

// SetAfterPublish installs a hook that runs between a relay's publish and its mark; an
// error from it simulates a crash there.
func SetAfterPublish(r *Relay, fn func() error) { r.afterPublish = fn }

// Backoff exposes the retry wait for tests.
func Backoff(base, ceiling time.Duration, attempt int) time.Duration {
	return backoff(base, ceiling, attempt)
}

// RefreshGauges runs one gauge refresh.
func RefreshGauges(r *Relay, ctx context.Context) { r.refreshGauges(ctx) }
