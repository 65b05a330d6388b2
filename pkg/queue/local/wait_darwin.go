package local

import (
	"context"
	"time"
)

// pollInterval is how often a blocked operation re-checks on macOS, which
// has no inotify (kqueue support is future work).
const pollInterval = 50 * time.Millisecond

// waiter sleeps until a time passes or a context is done.
type waiter struct{}

func newWaiter(path string) (*waiter, error) { return &waiter{}, nil }

func (w *waiter) close() {}

func (w *waiter) wait(ctx context.Context, until time.Time, holders []holder) error {
	sleep := pollInterval
	if !until.IsZero() {
		sleep = max(0, min(sleep, time.Until(until)))
	}
	t := time.NewTimer(sleep)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
