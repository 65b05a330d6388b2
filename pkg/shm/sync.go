package shm

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Semaphores, events and barriers. Each waits with WaitChange on the
// header's change counter; each state change calls Changed.

func (o *Object) want(k Kind) error {
	if o.Kind() != k {
		return fmt.Errorf("%w: %s is a %s, not a %s", ErrWrongKind, o.Name, o.Kind(), k)
	}
	return nil
}

// semSlot returns the owner word of slot i. A semaphore of n slots has n
// words; a taken slot holds its owner, a free one 0.
func (o *Object) semSlot(i int) *uint64 { return o.u64(DataOffset + 8*i) }

// semGroup returns the group word of slot i (see GroupOf), nil in a
// semaphore made by an older pshm, which has none. The n group words
// follow the n owner words, so that older readers find the slots where
// they were.
func (o *Object) semGroup(i int) *uint64 {
	n := o.Len()
	if o.DataSize() < 16*n {
		return nil
	}
	return o.u64(DataOffset + 8*n + 8*i)
}

// semFree reports whether slot i, whose holder died, is free: the group
// recorded for it has no live member.
func (o *Object) semFree(i int) bool {
	g := o.semGroup(i)
	return g == nil || groupGone(atomic.LoadUint64(g))
}

func (o *Object) setSemGroup(i int, w uint64) {
	if g := o.semGroup(i); g != nil {
		atomic.StoreUint64(g, w)
	}
}

// SemSetGroup records g as the process group of the command that me, the
// holder of a slot, runs under it.
func (o *Object) SemSetGroup(me Owner, g Owner) error {
	if err := o.want(KindSem); err != nil {
		return err
	}
	for i := 0; i < o.Len(); i++ {
		if atomic.LoadUint64(o.semSlot(i)) == me.word() {
			// A semaphore of an older pshm has nowhere to record it: its
			// dead holders' slots are recovered at once, as they were.
			o.setSemGroup(i, g.word())
			return nil
		}
	}
	return fmt.Errorf("%s: no slot held by PID %d", o.Name, me.PID)
}

// SemHolders lists the owners of the taken slots.
func (o *Object) SemHolders() []Owner {
	var hs []Owner
	for i := 0; i < o.Len(); i++ {
		if w := atomic.LoadUint64(o.semSlot(i)); w != 0 {
			hs = append(hs, ownerOf(w))
		}
	}
	return hs
}

// SemTryAcquire takes a free slot for me, or one whose holder died
// (returned as recovered).
func (o *Object) SemTryAcquire(me Owner) (ok bool, recovered *Owner) {
	n := o.Len()
	for i := 0; i < n; i++ {
		if atomic.CompareAndSwapUint64(o.semSlot(i), 0, me.word()) {
			return true, nil
		}
	}
	for i := 0; i < n; i++ {
		w := atomic.LoadUint64(o.semSlot(i))
		if w == 0 {
			continue
		}
		if h := ownerOf(w); !h.Alive() && o.semFree(i) && atomic.CompareAndSwapUint64(o.semSlot(i), w, me.word()) {
			o.setSemGroup(i, 0)
			return true, &h
		}
	}
	return false, nil
}

// SemAcquire takes a slot for me, waiting as long as ctx allows; the death
// of a holder frees its slot at once, or once its command's group is gone.
func (o *Object) SemAcquire(ctx context.Context, me Owner) (recovered *Owner, err error) {
	if err := o.want(KindSem); err != nil {
		return nil, err
	}
	err = o.WaitChange(ctx, func() (bool, error) {
		ok, r := o.SemTryAcquire(me)
		recovered = r
		return ok, nil
	}, o.semWatch)
	return recovered, err
}

// semWatch returns the live holders, whose deaths wake a wait, and whether
// a dead holder's slot waits for its group to empty, which nothing wakes.
func (o *Object) semWatch() (live []Owner, poll bool) {
	for _, h := range o.SemHolders() {
		if h.Alive() {
			live = append(live, h)
		} else {
			poll = true
		}
	}
	return live, poll
}

// SemRelease frees one slot held by me (or, with anyStart, by any process
// with me's PID) and wakes waiters.
func (o *Object) SemRelease(me Owner, anyStart bool) error {
	if err := o.want(KindSem); err != nil {
		return err
	}
	for i := 0; i < o.Len(); i++ {
		w := atomic.LoadUint64(o.semSlot(i))
		h := ownerOf(w)
		if w == 0 || h != me && !(anyStart && h.PID == me.PID) {
			continue
		}
		o.setSemGroup(i, 0)
		if atomic.CompareAndSwapUint64(o.semSlot(i), w, 0) {
			o.Changed()
			return nil
		}
	}
	return fmt.Errorf("%s: no slot held by PID %d", o.Name, me.PID)
}

func (o *Object) eventFlag() *uint32 { return o.u32(DataOffset) }

// EventSet sets the event and wakes every waiter.
func (o *Object) EventSet() error {
	if err := o.want(KindEvent); err != nil {
		return err
	}
	atomic.StoreUint32(o.eventFlag(), 1)
	o.Changed()
	return nil
}

// EventClear clears the event.
func (o *Object) EventClear() error {
	if err := o.want(KindEvent); err != nil {
		return err
	}
	atomic.StoreUint32(o.eventFlag(), 0)
	o.Changed()
	return nil
}

// EventIsSet reports whether the event is set.
func (o *Object) EventIsSet() (bool, error) {
	if err := o.want(KindEvent); err != nil {
		return false, err
	}
	return atomic.LoadUint32(o.eventFlag()) != 0, nil
}

// EventWait blocks until the event is set.
func (o *Object) EventWait(ctx context.Context) error {
	if err := o.want(KindEvent); err != nil {
		return err
	}
	return o.WaitChange(ctx, func() (bool, error) { return atomic.LoadUint32(o.eventFlag()) != 0, nil }, nil)
}

func (o *Object) barrierWord() *uint64 { return o.u64(DataOffset) }

// BarrierState returns how many parties are waiting and how many times the
// barrier has tripped.
func (o *Object) BarrierState() (waiting int, generation uint32) {
	w := atomic.LoadUint64(o.barrierWord())
	return int(uint32(w)), uint32(w >> 32)
}

// BarrierWait arrives at the barrier and blocks until all its parties have
// arrived. It returns the arrival index (0 for the first). A party that
// gives up (timeout, signal) withdraws, so the barrier stays usable; a
// party killed while waiting stays counted.
func (o *Object) BarrierWait(ctx context.Context) (int, error) {
	if err := o.want(KindBarrier); err != nil {
		return 0, err
	}
	word, parties := o.barrierWord(), uint64(o.Len())
	var gen, idx uint64
	for {
		w := atomic.LoadUint64(word)
		gen, idx = w>>32, w&0xffffffff
		next := gen<<32 | (idx + 1)
		if idx+1 >= parties {
			next = (gen + 1) << 32 // last to arrive: trip and reset
		}
		if atomic.CompareAndSwapUint64(word, w, next) {
			break
		}
	}
	if idx+1 >= parties {
		o.Changed()
		return int(idx), nil
	}
	passed := func() (bool, error) { return atomic.LoadUint64(word)>>32 != gen, nil }
	err := o.WaitChange(ctx, passed, nil)
	if err == nil {
		return int(idx), nil
	}
	for {
		w := atomic.LoadUint64(word)
		if w>>32 != gen {
			return int(idx), nil // tripped as we gave up
		}
		if atomic.CompareAndSwapUint64(word, w, w-1) {
			return 0, err
		}
	}
}
