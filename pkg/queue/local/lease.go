package local

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pkit-sh/pkit/pkg/queue"
)

// schedule notes that something happens at t (unix ns).
func (h *header) schedule(t int64) {
	if h.NextEvent == 0 || t < h.NextEvent {
		h.NextEvent = t
	}
}

func (h *header) nextEvent() time.Time {
	if h.NextEvent == 0 || h.Leased+h.Retry == 0 {
		return time.Time{}
	}
	return time.Unix(0, h.NextEvent)
}

// liveHolders lists the other processes holding leases: a waiting get
// watches them, since their death makes items ready.
func (h *header) liveHolders(self holder) []holder {
	var out []holder
	for _, hd := range h.Holders {
		if hd.Count > 0 && hd.PID != self.PID {
			out = append(out, hd)
		}
	}
	return out
}

// housekeep expires the leases that ran out or whose holder died (to the
// dead-letter queue after MaxDeliveries) and returns the table entries
// ready for redelivery, oldest first. It scans the lease table only when
// something is due.
func (q *Queue) housekeep(h *header, now time.Time) (changed bool, slots []slot, ready []uint64, err error) {
	if h.Leased+h.Retry == 0 {
		return false, nil, nil, nil
	}
	var dead []holder
	for _, hd := range h.Holders {
		if hd.Count > 0 && !alive(hd) {
			dead = append(dead, hd)
		}
	}
	nowNs := now.UnixNano()
	if len(dead) == 0 && h.NextEvent > nowNs {
		return false, nil, nil, nil
	}
	if slots, err = q.loadSlots(h); err != nil {
		return false, nil, nil, err
	}
	if err := q.markDirty(h); err != nil {
		return false, nil, nil, err
	}
	h.NextEvent = 0
	for i := range slots {
		s := &slots[i]
		switch s.State {
		case slotLeased:
			lost := s.Deadline <= nowNs
			for _, d := range dead {
				lost = lost || (s.HolderPID == d.PID && s.HolderTime == d.Start)
			}
			if !lost {
				h.schedule(s.Deadline)
				continue
			}
			h.dropHolder(s.HolderPID, s.HolderTime)
			h.Leased--
			if err := q.requeue(h, s, uint64(i), now, 0); err != nil {
				return false, nil, nil, err
			}
			if s.State == slotRetry {
				ready = append(ready, uint64(i))
			}
		case slotRetry:
			if s.Deadline <= nowNs {
				ready = append(ready, uint64(i))
			} else {
				h.schedule(s.Deadline)
			}
		}
	}
	slices.SortFunc(ready, func(a, b uint64) int { return cmp.Compare(slots[a].Seq, slots[b].Seq) })
	return true, slots, ready, nil
}

// requeue makes the no-longer-leased entry i ready again after delay, or
// moves its item to the dead-letter queue once it was delivered
// MaxDeliveries times. The caller has uncounted the lease.
func (q *Queue) requeue(h *header, s *slot, i uint64, now time.Time, delay time.Duration) error {
	if q.cfg.MaxDeliveries > 0 && int(s.Deliveries) >= q.cfg.MaxDeliveries {
		err := q.deadLetter(s)
		if err == nil {
			q.release(h, s, i)
			h.Dead++
			return q.writeSlot(i, s)
		}
		// The dead-letter queue refused it: deliver it again rather than lose it.
	}
	s.State, s.Deadline = slotRetry, now.Add(delay).UnixNano()
	s.HolderPID, s.HolderTime = 0, 0
	h.Retry++
	h.schedule(s.Deadline)
	return q.writeSlot(i, s)
}

func (q *Queue) deadLetter(s *slot) error {
	data, err := q.readItem(s)
	if err != nil {
		return err
	}
	ctx := context.Background()
	dq, err := q.b.Ensure(ctx, q.name+queue.DeadSuffix, queue.Config{Durable: q.cfg.Durable})
	if err != nil {
		return err
	}
	defer dq.Close()
	_, err = dq.Put(ctx, [][]byte{data}, true)
	return err
}

// lookup finds the entry of a held lease.
func (q *Queue) lookup(h *header, id string) (uint64, slot, error) {
	var s slot
	seq, deliveries, i, ok := parseLeaseID(id)
	if ok {
		if err := q.readSlot(h, i, &s); err != nil {
			return 0, s, err
		}
	}
	if !ok || s.State != slotLeased || s.Seq != seq || s.Deliveries != deliveries {
		return 0, s, fmt.Errorf("queue %q: lease %q: %w", q.name, id, queue.ErrUnknownLease)
	}
	return i, s, nil
}

// Done implements queue.Queue.
func (q *Queue) Done(ctx context.Context, ids ...string) error {
	var h header
	if err := q.lock(&h); err != nil {
		return err
	}
	defer q.unlock()
	var errs []error
	changed := false
	for _, id := range ids {
		i, s, err := q.lookup(&h, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := q.markDirty(&h); err != nil {
			return err
		}
		h.dropHolder(s.HolderPID, s.HolderTime)
		h.Leased--
		h.Done++
		q.release(&h, &s, i)
		if err := q.writeSlot(i, &s); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		q.gcSegments(&h)
		if err := q.commit(&h); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// withLease runs op under the queue lock on the entry of lease id: Nack
// and Extend each change one held lease.
func (q *Queue) withLease(id string, op func(h *header, i uint64, s *slot) error) error {
	var h header
	if err := q.lock(&h); err != nil {
		return err
	}
	defer q.unlock()
	i, s, err := q.lookup(&h, id)
	if err != nil {
		return err
	}
	return op(&h, i, &s)
}

// Nack implements queue.Queue.
func (q *Queue) Nack(ctx context.Context, id string, delay time.Duration) error {
	return q.withLease(id, func(h *header, i uint64, s *slot) error {
		if err := q.markDirty(h); err != nil {
			return err
		}
		h.dropHolder(s.HolderPID, s.HolderTime)
		h.Leased--
		if err := q.requeue(h, s, i, time.Now(), delay); err != nil {
			return err
		}
		q.gcSegments(h)
		return q.commit(h)
	})
}

// Extend implements queue.Queue. One table entry changes and no count, so
// it needs no header update: the header's next-event time is a lower
// bound, and a later expiry only makes one scan find nothing.
func (q *Queue) Extend(ctx context.Context, id string, d time.Duration) error {
	return q.withLease(id, func(h *header, i uint64, s *slot) error {
		s.Deadline = time.Now().Add(d).UnixNano()
		return q.writeSlot(i, s)
	})
}
