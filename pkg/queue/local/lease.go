package local

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pkit-sh/pkit/pkg/lifetime"
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
// watches them, since their death makes items ready. A dead holder whose
// leases wait for their process groups to empty is not one of them: the
// next event (housekeep) is the re-check for those.
func (h *header) liveHolders(self holder) []holder {
	var out []holder
	for _, hd := range h.Holders {
		if hd.Count > 0 && hd.PID != self.PID && alive(hd) {
			out = append(out, hd)
		}
	}
	return out
}

// orphanCheck is how often a lease whose holder died, but whose process
// group still has members, is looked at again: those members are being
// stopped by the holder's watchdog, within its grace period.
const orphanCheck = 100 * time.Millisecond

// housekeep expires the leases that ran out or whose holder died (to the
// dead-letter queue after MaxDeliveries) and returns the table entries
// ready for redelivery, oldest first. A dead holder's lease with a process
// group attached ends only once the group is gone. It scans the lease
// table only when something is due.
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
	// Decide before writing: while an orphaned group keeps a lease, the
	// scans until it is gone must not rewrite the header each time, or
	// every waiting get (woken by the write) would scan and write again.
	old := h.NextEvent
	h.NextEvent = 0
	var lost []uint64
	orphans := false
	for i := range slots {
		s := &slots[i]
		switch s.State {
		case slotLeased:
			switch q.leaseState(s, dead, nowNs) {
			case leaseLost:
				lost = append(lost, uint64(i))
				continue
			case leaseOrphaned:
				orphans = true
				h.schedule(nowNs + int64(orphanCheck))
			}
			h.schedule(s.Deadline)
		case slotRetry:
			// A due entry keeps its (past) event too: a caller that
			// does not deliver it (Stats, Join) commits this header,
			// which must still send the next get to it.
			h.schedule(s.Deadline)
			if s.Deadline <= nowNs {
				ready = append(ready, uint64(i))
			}
		}
	}
	if len(lost) == 0 && len(ready) == 0 && (orphans || h.NextEvent == old) {
		return false, slots, nil, nil
	}
	if err := q.markDirty(h); err != nil {
		return false, nil, nil, err
	}
	for _, i := range lost {
		s := &slots[i]
		h.dropHolder(s.HolderPID, s.HolderTime)
		h.Leased--
		if err := q.requeue(h, s, i, now, 0); err != nil {
			return false, nil, nil, err
		}
		if s.State == slotRetry {
			ready = append(ready, i)
		}
	}
	slices.SortFunc(ready, func(a, b uint64) int { return cmp.Compare(slots[a].Seq, slots[b].Seq) })
	return true, slots, ready, nil
}

// Lease states for housekeep.
const (
	leaseHeld     = iota
	leaseLost     // expired, or its holder died and its work is gone
	leaseOrphaned // its holder died but its process group still has members
)

// leaseState tells whether the leased entry s is still held at nowNs,
// given the holders that died.
func (q *Queue) leaseState(s *slot, dead []holder, nowNs int64) int {
	if s.Deadline <= nowNs {
		return leaseLost
	}
	for _, d := range dead {
		if s.HolderPID == d.PID && s.HolderTime == d.Start {
			if s.HolderPGID == 0 || lifetime.Gone(int(s.HolderPGID)) {
				return leaseLost
			}
			return leaseOrphaned
		}
	}
	return leaseHeld
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
	s.HolderPID, s.HolderTime, s.HolderPGID = 0, 0, 0
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
	if !ok {
		return 0, s, fmt.Errorf("queue %q: lease %q: %w", q.name, id, queue.ErrBadLease)
	}
	if err := q.readSlot(h, i, &s); err != nil {
		return 0, s, err
	}
	if s.State != slotLeased || s.Seq != seq || s.Deliveries != deliveries {
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

// Attach implements queue.Queue. Like Extend, it changes one table entry
// and no count.
func (q *Queue) Attach(ctx context.Context, id string, pgid int) error {
	if pgid <= 0 {
		return fmt.Errorf("queue %q: lease %q: process group %d", q.name, id, pgid)
	}
	return q.withLease(id, func(h *header, i uint64, s *slot) error {
		s.HolderPGID = uint32(pgid)
		return q.writeSlot(i, s)
	})
}
