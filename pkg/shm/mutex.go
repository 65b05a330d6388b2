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
//
// The user lock also has a group word (see GroupOf): while the process
// group of the command its holder runs has a live member, a dead holder's
// lock is not recovered, and waiters look again at a short interval.
type Mutex struct {
	word  *uint64
	group *uint64 // nil for the internal lock, whose holders run nothing
}

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
		if holder.Alive() || !m.groupGone() {
			return false, nil
		}
		if atomic.CompareAndSwapUint64(m.word, s, w|s&waitersBit) {
			m.setGroup(0)
			return true, &holder
		}
	}
}

// groupGone reports whether the group recorded for the holder has no live
// member (true if none is recorded).
func (m *Mutex) groupGone() bool { return m.group == nil || groupGone(atomic.LoadUint64(m.group)) }

func (m *Mutex) setGroup(w uint64) {
	if m.group != nil {
		atomic.StoreUint64(m.group, w)
	}
}

// SetGroup records g as the process group of the command that me, the
// holder, runs under the lock.
func (m *Mutex) SetGroup(me Owner, g Owner) error {
	if m.group == nil {
		return errors.New("this lock records no process group")
	}
	if h, ok := m.Holder(); !ok || h != me {
		return fmt.Errorf("%w (so it cannot record a process group)", ErrNotOwner)
	}
	m.setGroup(g.word())
	return nil
}

// Group is the process group recorded for the holder's command, if any.
func (m *Mutex) Group() (g Owner, ok bool) {
	if m.group == nil {
		return Owner{}, false
	}
	w := atomic.LoadUint64(m.group)
	return ownerOf(w), w != 0
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
	step := recheckMin
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
			if !m.groupGone() {
				// Its command still runs: the lock is not free yet.
				if err := recheck(ctx, m.low(), uint32(s), nil, step); err != nil {
					return nil, err
				}
				step = min(2*step, recheckMax)
				continue
			}
			if atomic.CompareAndSwapUint64(m.word, s, w|waitersBit) {
				m.setGroup(0)
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
		m.setGroup(0)
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
