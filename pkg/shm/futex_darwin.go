package shm

import (
	"context"
	"sync/atomic"
	"time"
)

const wakeAll = 1<<31 - 1

// pollInterval is how often waits re-check on darwin, which has no futex
// that works across processes on shared memory.
const pollInterval = time.Millisecond

func futexWake(addr *uint32, n int) {}

// block polls: it sleeps one interval (or until ctx ends) and returns so
// the caller re-checks its condition.
func block(ctx context.Context, addr *uint32, val uint32, watch []Owner) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if atomic.LoadUint32(addr) != val {
		return nil
	}
	t := time.NewTimer(pollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
