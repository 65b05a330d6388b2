package sharedstate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pkit-sh/pkit/pkg/shm"
)

// Local is the Store of this machine's POSIX shared memory (pkg/shm). Its
// locks belong to the calling process and are freed at its death, so their
// leases have no TTL, no fence and are never lost.
//
// A Local keeps the values and dicts it opened mapped until Close, so that a
// command's Stat and the operation after it map the object once: an object
// removed and re-created meanwhile by another process stays the old one to
// it, as to a process that has it open. Use one for a command, not for a
// long-lived service. The zero value is ready to use.
type Local struct {
	mu   sync.Mutex // guards open; the objects are safe for concurrent use
	open map[string]*shm.Object
}

var _ Store = (*Local)(nil)

// withObject opens name (or finds it mapped), checks its kind (0: any) and
// runs f on it.
func (l *Local) withObject(name string, kind shm.Kind, f func(o *shm.Object) error) error {
	l.mu.Lock()
	o := l.open[name]
	if o == nil {
		var err error
		if o, err = shm.Open(name); err != nil {
			l.mu.Unlock()
			return err
		}
		if l.open == nil {
			l.open = make(map[string]*shm.Object)
		}
		l.open[name] = o
	}
	l.mu.Unlock()
	if kind != 0 && o.Kind() != kind {
		return fmt.Errorf("%s is a %s, not a %s: %w", name, o.Kind(), kind, shm.ErrWrongKind)
	}
	return f(o)
}

func (*Local) Create(ctx context.Context, name string, spec shm.Spec, existOK bool, init []shm.Value) (bool, error) {
	o, created, err := shm.Create(name, spec, existOK, func(o *shm.Object) error {
		if len(init) == 0 {
			return nil
		}
		return o.Set(0, init)
	})
	if err != nil {
		return false, err
	}
	return created, o.Close()
}

// describe reads o's shape and contents.
func describe(o *shm.Object) Object {
	ob := Object{Name: o.Name, Spec: shm.Spec{Kind: o.Kind(), Len: o.Len()}}
	switch o.Kind() {
	case shm.KindValue:
		ob.Spec.Type = o.Type()
		for i := range o.Len() {
			v, _ := o.Get(i)
			ob.Values = append(ob.Values, v)
		}
	case shm.KindDict:
		ob.Spec.KeySize, ob.Spec.ValSize = o.DictSizes()
		keys, vals, _ := o.DictItems()
		ob.Items = make(map[string]string, len(keys))
		for i, k := range keys {
			ob.Items[k] = vals[i]
		}
	case shm.KindEvent:
		ob.IsSet, _ = o.EventIsSet()
	case shm.KindBarrier:
		ob.Waiting, _ = o.BarrierState()
	case shm.KindSem:
		ob.Holders = len(o.SemHolders())
	case shm.KindLock:
		ob.Spec.Len = 1
		if _, held := o.Lock().Holder(); held {
			ob.Holders = 1
		}
	}
	return ob
}

func (l *Local) Stat(ctx context.Context, name string) (ob Object, err error) {
	err = l.withObject(name, 0, func(o *shm.Object) error {
		ob = describe(o)
		return nil
	})
	return ob, err
}

func (l *Local) Set(ctx context.Context, name string, i int, vals []shm.Value) error {
	return l.withObject(name, shm.KindValue, func(o *shm.Object) error {
		if err := o.CheckSet(i, len(vals)); err != nil {
			return err
		}
		return o.Set(i, vals)
	})
}

func (l *Local) Add(ctx context.Context, name string, i int, delta shm.Value) (v shm.Value, err error) {
	err = l.withObject(name, shm.KindValue, func(o *shm.Object) error {
		v, err = o.Add(i, delta)
		return err
	})
	return v, err
}

func (l *Local) CAS(ctx context.Context, name string, i int, old, new shm.Value) (ok bool, cur shm.Value, err error) {
	err = l.withObject(name, shm.KindValue, func(o *shm.Object) error {
		ok, cur, err = o.CAS(i, old, new)
		return err
	})
	return ok, cur, err
}

func (l *Local) Wait(ctx context.Context, name string, i int, c shm.Cond) (v shm.Value, err error) {
	err = l.withObject(name, shm.KindValue, func(o *shm.Object) error {
		v, err = o.Wait(ctx, i, c)
		return err
	})
	return v, err
}

// openKind opens name, creating it with spec on first use, and checks its
// kind.
func openKind(name string, spec shm.Spec) (*shm.Object, error) {
	o, err := shm.Open(name)
	if errors.Is(err, shm.ErrNotExist) {
		o, err = shm.OpenOrCreate(name, spec)
	}
	if err != nil {
		return nil, err
	}
	if k := o.Kind(); spec.Kind != shm.KindLock && k != spec.Kind {
		o.Close()
		return nil, fmt.Errorf("%s is a %s, not a %s: %w", name, k, spec.Kind, shm.ErrWrongKind)
	}
	return o, nil
}

type localLease struct{ release func() error }

func (localLease) Fence() uint64         { return 0 }
func (localLease) Lost() <-chan struct{} { return nil }
func (l localLease) Release() error      { return l.release() }

// Acquire takes the lock of name (any object's own lock, as pshm lock
// does) or a slot of the semaphore name, for this process.
func (*Local) Acquire(ctx context.Context, name string, slots int, _ time.Duration) (Lease, error) {
	me, err := shm.Self()
	if err != nil {
		return nil, err
	}
	spec := shm.Spec{Kind: shm.KindLock, Mode: 0o600}
	if slots > 0 {
		spec = shm.Spec{Kind: shm.KindSem, Len: slots, Mode: 0o600}
	}
	o, err := openKind(name, spec)
	if err != nil {
		return nil, err
	}
	if n := o.Len(); slots > 0 && n != slots {
		o.Close()
		return nil, fmt.Errorf("sem %s has n=%d, not %d: %w", name, n, slots, shm.ErrWrongKind)
	}
	if slots == 0 {
		m := o.Lock()
		if ok, _ := m.TryLock(me); !ok {
			if _, err := m.Lock(ctx, me); err != nil {
				o.Close()
				return nil, err
			}
		}
		return localLease{func() error { defer o.Close(); return m.Unlock(me) }}, nil
	}
	if ok, _ := o.SemTryAcquire(me); !ok {
		if _, err := o.SemAcquire(ctx, me); err != nil {
			o.Close()
			return nil, err
		}
	}
	return localLease{func() error { defer o.Close(); return o.SemRelease(me, false) }}, nil
}

// ReleaseFence fails: local locks have no tokens; they are released by
// their owner.
func (*Local) ReleaseFence(ctx context.Context, name string, fence uint64) error {
	return fmt.Errorf("%s: local locks have no fencing tokens: %w", name, shm.ErrNotOwner)
}

func (*Local) SetEvent(ctx context.Context, name string, set bool) error {
	o, err := openKind(name, shm.Spec{Kind: shm.KindEvent, Mode: 0o600})
	if err != nil {
		return err
	}
	defer o.Close()
	if set {
		return o.EventSet()
	}
	return o.EventClear()
}

func (*Local) WaitEvent(ctx context.Context, name string) error {
	o, err := openKind(name, shm.Spec{Kind: shm.KindEvent, Mode: 0o600})
	if err != nil {
		return err
	}
	defer o.Close()
	return o.EventWait(ctx)
}

func (*Local) Barrier(ctx context.Context, name string, parties int) error {
	o, err := openKind(name, shm.Spec{Kind: shm.KindBarrier, Len: parties, Mode: 0o600})
	if err != nil {
		return err
	}
	defer o.Close()
	if o.Len() != parties {
		return fmt.Errorf("barrier %s has %d parties, not %d: %w", name, o.Len(), parties, shm.ErrWrongKind)
	}
	_, err = o.BarrierWait(ctx)
	return err
}

func dictSpec() shm.Spec {
	return shm.Spec{Kind: shm.KindDict, Len: shm.DefaultDictLen, KeySize: shm.DefaultDictKeySize, ValSize: shm.DefaultDictValSize, Mode: 0o600}
}

func (*Local) DictSet(ctx context.Context, name, key, val string) error {
	o, err := openKind(name, dictSpec())
	if err != nil {
		return err
	}
	defer o.Close()
	if err := o.CheckDictEntry(key, val); err != nil {
		return err
	}
	return o.DictSet(key, val)
}

func (l *Local) DictGet(ctx context.Context, name, key string) (v string, err error) {
	err = l.withObject(name, shm.KindDict, func(o *shm.Object) error {
		v, err = o.DictGet(key)
		return err
	})
	return v, err
}

func (l *Local) DictDel(ctx context.Context, name, key string) error {
	return l.withObject(name, shm.KindDict, func(o *shm.Object) error { return o.DictDel(key) })
}

func (*Local) List(ctx context.Context) ([]Object, error) {
	objs, _, err := shm.List(false)
	var out []Object
	for _, o := range objs {
		ob := describe(o)
		ob.Values, ob.Items = nil, nil
		out = append(out, ob)
		o.Close()
	}
	return out, err
}

func (l *Local) Remove(ctx context.Context, name string) error {
	l.mu.Lock()
	if o := l.open[name]; o != nil {
		o.Close()
		delete(l.open, name)
	}
	l.mu.Unlock()
	return shm.Remove(name)
}

// Close unmaps the objects the store has open.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	for name, o := range l.open {
		err = errors.Join(err, o.Close())
		delete(l.open, name)
	}
	return err
}
