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
	h, slots, err := q.settled(true)
	if err != nil {
		return queue.Stats{}, err
	}
	st := queue.Stats{
		Ready: h.ready(), Leased: h.Leased, Delivered: int64(h.Delivered), Done: int64(h.Done),
		Dead: int64(h.Dead), MaxSize: h.Cfg.MaxSize, Bytes: h.HeadBytes + h.SlotBytes,
		RolledBackTo: h.RolledBackTo,
	}
	for _, s := range slots {
		if s.State == slotFree {
			continue
		}
		// A ready entry has failed Deliveries times; a leased one is
		// being delivered for the Deliveries-th time.
		if s.State == slotRetry || s.Deliveries > 1 {
			st.Redelivered++
		}
		st.MostDeliveries = max(st.MostDeliveries, int64(s.Deliveries))
	}
	return st, nil
}

// settled returns the header after expiring what is due, and with
// withSlots the lease table (nil when it is empty).
func (q *Queue) settled(withSlots bool) (header, []slot, error) {
	var h header
	if err := q.lock(&h); err != nil {
		return h, nil, err
	}
	defer q.unlock()
	changed, slots, _, err := q.housekeep(&h, time.Now())
	if err == nil && changed {
		err = q.commit(&h)
	}
	if err == nil && withSlots && slots == nil && h.Leased+h.Retry > 0 {
		slots, err = q.loadSlots(&h)
	}
	return h, slots, err
}

// Join implements queue.Queue.
func (q *Queue) Join(ctx context.Context) error {
	return q.block(ctx, func() (bool, time.Time, []holder, error) {
		h, _, err := q.settled(false)
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
