package local

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/pkit-sh/pkit/pkg/queue"
)

// Stats implements queue.Queue.
func (q *Queue) Stats(ctx context.Context) (queue.Stats, error) {
	h, err := q.settled()
	if err != nil {
		return queue.Stats{}, err
	}
	return queue.Stats{
		Ready: h.ready(), Leased: h.Leased, Delivered: int64(h.Delivered), Done: int64(h.Done),
		Dead: int64(h.Dead), MaxSize: h.Cfg.MaxSize, Bytes: h.HeadBytes + h.SlotBytes,
	}, nil
}

// settled returns the header after expiring what is due.
func (q *Queue) settled() (header, error) {
	var h header
	if err := q.lock(&h); err != nil {
		return h, err
	}
	defer q.unlock()
	changed, _, _, err := q.housekeep(&h, time.Now())
	if err == nil && changed {
		err = q.commit(&h)
	}
	return h, err
}

// Join implements queue.Queue.
func (q *Queue) Join(ctx context.Context) error {
	return q.block(ctx, func() (bool, time.Time, []holder, error) {
		h, err := q.settled()
		return h.ready() == 0 && h.Leased == 0, h.nextEvent(), nil, err
	})
}

// Purge implements queue.Queue.
func (q *Queue) Purge(ctx context.Context) (int64, error) {
	var h header
	if err := q.lock(&h); err != nil {
		return 0, err
	}
	defer q.unlock()
	_, slots, _, err := q.housekeep(&h, time.Now())
	if err != nil {
		return 0, err
	}
	n := int64(h.TailSeq - h.HeadSeq)
	h.HeadSeg, h.HeadOff, h.HeadSeq, h.HeadBytes = h.TailSeg, h.TailOff, h.TailSeq, 0
	if h.Retry > 0 {
		if slots == nil {
			if slots, err = q.loadSlots(&h); err != nil {
				return 0, err
			}
		}
		if err := q.markDirty(&h); err != nil {
			return 0, err
		}
		for i := range slots {
			if s := &slots[i]; s.State == slotRetry {
				q.release(&h, s, uint64(i))
				if err := q.writeSlot(uint64(i), s); err != nil {
					return 0, err
				}
				n++
			}
		}
		h.Retry = 0
	}
	q.gcSegments(&h)
	return n, q.commit(&h)
}

// block runs try until it succeeds or fails; in between it sleeps until the
// queue changes, a process in holders dies, until passes, or ctx is done.
// The watch is armed before the re-check, so no change is missed; it is
// only set up once an operation has to wait.
func (q *Queue) block(ctx context.Context, try func() (bool, time.Time, []holder, error)) error {
	var w *waiter
	defer func() {
		if w != nil {
			w.close()
		}
	}()
	for {
		ok, until, holders, err := try()
		if ok || err != nil {
			return err
		}
		if w == nil {
			if w, err = newWaiter(filepath.Join(q.dir, stateFile)); err != nil {
				return fmt.Errorf("queue %q: %w", q.name, err)
			}
			continue
		}
		if err := w.wait(ctx, until, holders); err != nil {
			return err
		}
	}
}

var _ queue.Queue = (*Queue)(nil)
