package shm

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Mutex is a robust process-shared lock in one 64-bit word of shared
// memory: 0 when free, else the owner word of its holder (see Owner) with
// waitersBit set when someone may be asleep on it. Waiters sleep on the
// word's low 32 bits with FUTEX_WAIT; Unlock wakes one. A holder that died
// (or whose PID was reused) is replaced by the next acquirer with one
// compare-and-swap, so two recoverers cannot both win. A waiter watches the
// holder's pidfd, so recovery happens the moment the holder dies.
type Mutex struct{ word *uint64 }

// ErrNotOwner is returned when releasing a lock someone else holds.
var ErrNotOwner = errors.New("lock is not held by this owner")

// low is the futex word: the low half of the lock word (little-endian).
func (m *Mutex) low() *uint32 { return (*uint32)(unsafe.Pointer(m.word)) }

// Holder reports who holds the lock (ok false when free).
func (m *Mutex) Holder() (o Owner, ok bool) {
	w := atomic.LoadUint64(m.word)
	return ownerOf(w), w != 0
}

// TryLock takes the lock for me if it is free or its holder is dead.
// recovered is the dead holder, if any.
func (m *Mutex) TryLock(me Owner) (ok bool, recovered *Owner) {
	w := me.word()
	for {
		s := atomic.LoadUint64(m.word)
		if s == 0 {
			if atomic.CompareAndSwapUint64(m.word, 0, w) {
				return true, nil
			}
			continue
		}
		holder := ownerOf(s)
		if holder.Alive() {
			return false, nil
		}
		if atomic.CompareAndSwapUint64(m.word, s, w|s&waitersBit) {
			return true, &holder
		}
	}
}

// Lock takes the lock for me, waiting as long as ctx allows. recovered is
// the dead holder the lock was taken over from, if any. The caller must
// hold no other reference to me's ownership: locking twice for the same
// owner is an error rather than a deadlock.
func (m *Mutex) Lock(ctx context.Context, me Owner) (recovered *Owner, err error) {
	w := me.word()
	if atomic.CompareAndSwapUint64(m.word, 0, w) {
		return nil, nil
	}
	for {
		s := atomic.LoadUint64(m.word)
		if s == 0 {
			// We cannot know whether others sleep, so keep waitersBit set
			// and let Unlock wake one (the classic three-state mutex).
			if atomic.CompareAndSwapUint64(m.word, 0, w|waitersBit) {
				return recovered, nil
			}
			continue
		}
		holder := ownerOf(s)
		if holder == me {
			return nil, fmt.Errorf("lock already held by PID %d", me.PID)
		}
		if !holder.Alive() {
			if atomic.CompareAndSwapUint64(m.word, s, w|waitersBit) {
				return &holder, nil
			}
			continue
		}
		if s&waitersBit == 0 {
			if !atomic.CompareAndSwapUint64(m.word, s, s|waitersBit) {
				continue
			}
			s |= waitersBit
		}
		if err := block(ctx, m.low(), uint32(s), []Owner{holder}); err != nil {
			// A wake meant for us may have arrived with the timeout: pass
			// it on so another waiter does not sleep on a free lock.
			futexWake(m.low(), 1)
			return nil, err
		}
	}
}

// Unlock releases the lock held by me and wakes one waiter.
func (m *Mutex) Unlock(me Owner) error {
	for {
		s := atomic.LoadUint64(m.word)
		if s == 0 || ownerOf(s) != me {
			if s == 0 {
				return fmt.Errorf("%w (it is free)", ErrNotOwner)
			}
			return fmt.Errorf("%w (held by PID %d)", ErrNotOwner, ownerOf(s).PID)
		}
		if atomic.CompareAndSwapUint64(m.word, s, 0) {
			if s&waitersBit != 0 {
				futexWake(m.low(), 1)
			}
			return nil
		}
	}
}

// ReleaseBy releases the lock if its holder has PID pid, whatever its start
// time (for pshm lock --release --owner PID from a script).
func (m *Mutex) ReleaseBy(pid int) error {
	s := atomic.LoadUint64(m.word)
	if s == 0 {
		return fmt.Errorf("%w (it is free)", ErrNotOwner)
	}
	if h := ownerOf(s); h.PID != pid {
		return fmt.Errorf("%w (held by PID %d, not %d)", ErrNotOwner, h.PID, pid)
	}
	return m.Unlock(ownerOf(s))
}
