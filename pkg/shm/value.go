package shm

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
)

// Every numeric element is read and written atomically: 4- and 8-byte
// elements directly, 1- and 2-byte ones through the aligned 32-bit word that
// contains them (so neighbours being updated at the same time are not
// clobbered). The data starts 64-byte aligned and elements are naturally
// aligned. Strings and byte arrays are copied under the object's internal
// lock, so readers never see half a write.

func (o *Object) valueType(i int) (Type, error) {
	if o.Kind() != KindValue {
		return Type{}, fmt.Errorf("%w: %s is a %s, not a value", ErrWrongKind, o.Name, o.Kind())
	}
	if i < 0 || i >= o.Len() {
		return Type{}, fmt.Errorf("index %d out of range: %s has %d element(s)", i, o.Name, o.Len())
	}
	return o.Type(), nil
}

// word returns the aligned 32-bit word holding a 1- or 2-byte element and
// the element's bit offset inside it.
func (o *Object) word(off int) (*uint32, uint) {
	return o.u32(off &^ 3), uint(off&3) * 8
}

func (o *Object) loadBits(t Type, off int) uint64 {
	switch t.Size {
	case 8:
		return atomic.LoadUint64(o.u64(off))
	case 4:
		return uint64(atomic.LoadUint32(o.u32(off)))
	}
	w, sh := o.word(off)
	return uint64(atomic.LoadUint32(w)>>sh) & t.mask()
}

func (o *Object) casBits(t Type, off int, old, new uint64) bool {
	switch t.Size {
	case 8:
		return atomic.CompareAndSwapUint64(o.u64(off), old, new)
	case 4:
		return atomic.CompareAndSwapUint32(o.u32(off), uint32(old), uint32(new))
	}
	w, sh := o.word(off)
	m := uint32(t.mask()) << sh
	for {
		cur := atomic.LoadUint32(w)
		if uint64(cur&m>>sh) != old {
			return false
		}
		if atomic.CompareAndSwapUint32(w, cur, cur&^m|uint32(new)<<sh) {
			return true
		}
	}
}

func (o *Object) storeBits(t Type, off int, v uint64) {
	switch t.Size {
	case 8:
		atomic.StoreUint64(o.u64(off), v)
		return
	case 4:
		atomic.StoreUint32(o.u32(off), uint32(v))
		return
	}
	for !o.casBits(t, off, o.loadBits(t, off), v) {
	}
}

// Get reads element i.
func (o *Object) Get(i int) (Value, error) {
	t, err := o.valueType(i)
	if err != nil {
		return Value{}, err
	}
	off := DataOffset + i*t.Size
	if t.IsString() {
		var raw []byte
		err := o.withOpLock(func() error {
			raw = append([]byte(nil), o.mem[off:off+t.Size]...)
			return nil
		})
		return Value{Type: t, Raw: raw}, err
	}
	return Value{Type: t, Bits: o.loadBits(t, off)}, nil
}

// Set writes vals to elements i, i+1, … (each element atomically; the
// values must already be checked with CheckSet) and wakes waiters.
func (o *Object) Set(i int, vals []Value) error {
	if err := o.CheckSet(i, len(vals)); err != nil {
		return err
	}
	t := o.Type()
	if t.IsString() {
		err := o.withOpLock(func() error {
			for k, v := range vals {
				off := DataOffset + (i+k)*t.Size
				n := copy(o.mem[off:off+t.Size], v.Raw)
				clear(o.mem[off+n : off+t.Size])
			}
			return nil
		})
		if err != nil {
			return err
		}
	} else {
		for k, v := range vals {
			o.storeBits(t, DataOffset+(i+k)*t.Size, v.Bits)
		}
	}
	o.Changed()
	return nil
}

// CheckSet validates writing n elements from index i.
func (o *Object) CheckSet(i, n int) error {
	if _, err := o.valueType(i); err != nil {
		return err
	}
	if i+n > o.Len() {
		return fmt.Errorf("%d value(s) from index %d do not fit: %s has %d element(s)", n, i, o.Name, o.Len())
	}
	return nil
}

// Add atomically adds delta to element i and returns the new value.
// Integers wrap around; floats are added with a compare-and-swap loop.
func (o *Object) Add(i int, delta Value) (Value, error) {
	t, err := o.valueType(i)
	if err != nil {
		return Value{}, err
	}
	if t.IsString() {
		return Value{}, fmt.Errorf("cannot add to %s of type %s", o.Name, t)
	}
	off := DataOffset + i*t.Size
	var nv uint64
	switch {
	case t.IsFloat():
		for {
			old := Value{Type: t, Bits: o.loadBits(t, off)}
			sum := old.Float() + delta.Float()
			if t.Code == F32 {
				nv = uint64(math.Float32bits(float32(sum)))
			} else {
				nv = math.Float64bits(sum)
			}
			if o.casBits(t, off, old.Bits, nv) {
				break
			}
		}
	case t.Size == 8:
		nv = atomic.AddUint64(o.u64(off), delta.Bits)
	case t.Size == 4:
		nv = uint64(atomic.AddUint32(o.u32(off), uint32(delta.Bits)))
	default:
		for {
			old := o.loadBits(t, off)
			nv = (old + delta.Bits) & t.mask()
			if o.casBits(t, off, old, nv) {
				break
			}
		}
	}
	o.Changed()
	return Value{Type: t, Bits: nv}, nil
}

// CAS sets element i to new if it holds old (bit for bit; for strings,
// byte for byte) and reports whether it did, with the value it found.
func (o *Object) CAS(i int, old, new Value) (bool, Value, error) {
	t, err := o.valueType(i)
	if err != nil {
		return false, Value{}, err
	}
	off := DataOffset + i*t.Size
	if t.IsString() {
		var swapped bool
		var cur []byte
		err := o.withOpLock(func() error {
			cur = append([]byte(nil), o.mem[off:off+t.Size]...)
			want := make([]byte, t.Size)
			copy(want, old.Raw)
			if string(cur) == string(want) {
				n := copy(o.mem[off:off+t.Size], new.Raw)
				clear(o.mem[off+n : off+t.Size])
				swapped = true
			}
			return nil
		})
		if swapped {
			o.Changed()
		}
		return swapped, Value{Type: t, Raw: cur}, err
	}
	if o.casBits(t, off, old.Bits, new.Bits) {
		o.Changed()
		return true, new, nil
	}
	return false, Value{Type: t, Bits: o.loadBits(t, off)}, nil
}

// WaitChange blocks until cond() reports true, re-checking after every
// change to the object (Changed), without polling. cond's error ends the
// wait. watch lists processes whose death should also trigger a re-check,
// and whether cond may turn true with nothing to wake the wait (a dead
// holder's process group emptying): then it re-checks at a short, growing
// interval.
func (o *Object) WaitChange(ctx context.Context, cond func() (bool, error), watch func() (procs []Owner, poll bool)) error {
	waiters := o.u32(offSeqWait)
	atomic.AddUint32(waiters, 1)
	defer atomic.AddUint32(waiters, ^uint32(0))
	seq := o.u32(offSeq)
	step := recheckMin
	for {
		s := atomic.LoadUint32(seq)
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		var w []Owner
		poll := false
		if watch != nil {
			w, poll = watch()
		}
		if poll {
			err = recheck(ctx, seq, s, w, step)
			step = min(2*step, recheckMax)
		} else {
			err = block(ctx, seq, s, w)
		}
		if err != nil {
			// One last look: the change may have come with the timeout.
			if ok, err2 := cond(); ok || err2 != nil {
				return err2
			}
			return err
		}
	}
}

// Wait blocks until element i satisfies c and returns its value then.
func (o *Object) Wait(ctx context.Context, i int, c Cond) (Value, error) {
	var v Value
	err := o.WaitChange(ctx, func() (bool, error) {
		var err error
		v, err = o.Get(i)
		return err == nil && c.Holds(v), err
	}, nil)
	return v, err
}

// withOpLock runs f holding the object's internal lock, which is held only
// for the duration of one operation (a dead holder is recovered at once).
func (o *Object) withOpLock(f func() error) error {
	me, err := Self()
	if err != nil {
		return err
	}
	m := o.opLock()
	if _, err := m.Lock(context.Background(), me); err != nil {
		return err
	}
	defer m.Unlock(me)
	return f()
}
