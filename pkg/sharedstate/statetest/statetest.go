// Package statetest is the conformance suite every sharedstate.Store
// passes: values and arrays (create, set, add, compare-and-set, wait),
// concurrent adds, locks and semaphores, events, barriers, dicts, listing
// and removal, and the errors callers tell apart.
//
// A store's test calls Run with a constructor that returns two clients of
// one fresh, empty store for each subtest (the same one twice where a store
// has no notion of separate clients):
//
//	func TestConformance(t *testing.T) {
//		statetest.Run(t, statetest.Options{...}, func(t *testing.T) (a, b sharedstate.Store) { ... })
//	}
package statetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/sharedstate"
	"github.com/pkit-sh/pkit/pkg/shm"
)

// Short is the suite's timeout scale: long enough for a loaded machine.
const Short = 300 * time.Millisecond

// Options says what a store promises beyond the common ground.
type Options struct {
	// Clients: locks exclude each other between the two clients (false
	// where a lock belongs to the process and both clients are one).
	Clients bool
	// Fenced: every acquisition gets a larger fencing token.
	Fenced bool
}

// Run runs the suite against stores made by newStore.
func Run(t *testing.T, o Options, newStore func(t *testing.T) (a, b sharedstate.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, o Options, a, b sharedstate.Store)
	}{
		{"Values", testValues},
		{"Strings", testStrings},
		{"Floats", testFloats},
		{"CreateErrors", testCreateErrors},
		{"Wait", testWait},
		{"ConcurrentAdd", testConcurrentAdd},
		{"Lock", testLock},
		{"Sem", testSem},
		{"Event", testEvent},
		{"Barrier", testBarrier},
		{"Dict", testDict},
		{"ListRemove", testListRemove},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newStore(t)
			tc.fn(t, o, a, b)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func typ(t *testing.T, s string) shm.Type {
	t.Helper()
	ty, err := shm.ParseType(s)
	if err != nil {
		t.Fatal(err)
	}
	return ty
}

func val(t *testing.T, ty shm.Type, s string) shm.Value {
	t.Helper()
	v, err := shm.ParseValue(ty, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func strs(vs []shm.Value) string { return fmt.Sprint(vs) }

func want(t *testing.T, s sharedstate.Store, name, w string) {
	t.Helper()
	ob, err := s.Stat(ctx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if got := strs(ob.Values); got != w {
		t.Fatalf("%s = %s, want %s", name, got, w)
	}
}

func testValues(t *testing.T, _ Options, a, b sharedstate.Store) {
	c := ctx(t)
	i64 := typ(t, "i64")
	created, err := a.Create(c, "v", shm.Spec{Kind: shm.KindValue, Type: i64, Len: 3, Mode: 0o600}, false, []shm.Value{val(t, i64, "1"), val(t, i64, "2")})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	want(t, b, "v", "[1 2 0]")
	ob, _ := b.Stat(c, "v")
	if ob.Spec.Kind != shm.KindValue || ob.Spec.Type != i64 || ob.Spec.Len != 3 {
		t.Fatalf("spec %+v", ob.Spec)
	}
	if err := b.Set(c, "v", 1, []shm.Value{val(t, i64, "-5"), val(t, i64, "7")}); err != nil {
		t.Fatal(err)
	}
	want(t, a, "v", "[1 -5 7]")
	if err := b.Set(c, "v", 2, []shm.Value{val(t, i64, "1"), val(t, i64, "2")}); err == nil {
		t.Fatal("set past the end succeeded")
	}
	v, err := a.Add(c, "v", 1, val(t, i64, "10"))
	if err != nil || v.String() != "5" {
		t.Fatal(v, err)
	}
	ok, cur, err := b.CAS(c, "v", 1, val(t, i64, "4"), val(t, i64, "100"))
	if err != nil || ok || cur.String() != "5" {
		t.Fatalf("cas with a wrong old value: %v %v %v", ok, cur, err)
	}
	ok, _, err = b.CAS(c, "v", 1, val(t, i64, "5"), val(t, i64, "100"))
	if err != nil || !ok {
		t.Fatalf("cas: %v %v", ok, err)
	}
	want(t, a, "v", "[1 100 7]")
	u8 := typ(t, "u8")
	if _, err := a.Create(c, "small", shm.Spec{Kind: shm.KindValue, Type: u8, Len: 1, Mode: 0o600}, false, []shm.Value{val(t, u8, "250")}); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Add(c, "small", 0, val(t, u8, "10")); err != nil || v.String() != "4" {
		t.Fatalf("u8 250+10 = %v, %v; want 4 (wrapped)", v, err)
	}
	if _, err := a.Add(c, "nothing", 0, val(t, i64, "1")); !errors.Is(err, shm.ErrNotExist) {
		t.Fatalf("add to a missing object: %v", err)
	}
}

func testStrings(t *testing.T, _ Options, a, b sharedstate.Store) {
	c := ctx(t)
	st := typ(t, "str:8")
	if _, err := a.Create(c, "s", shm.Spec{Kind: shm.KindValue, Type: st, Len: 2, Mode: 0o600}, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(c, "s", 0, []shm.Value{val(t, st, "héllo")}); err != nil {
		t.Fatal(err)
	}
	want(t, a, "s", "[héllo ]")
	if ok, _, err := a.CAS(c, "s", 0, val(t, st, "héllo"), val(t, st, "bye")); !ok || err != nil {
		t.Fatal(ok, err)
	}
	want(t, b, "s", "[bye ]")
	if _, err := a.Add(c, "s", 0, val(t, st, "x")); err == nil {
		t.Fatal("add to a string succeeded")
	}
}

func testFloats(t *testing.T, _ Options, a, b sharedstate.Store) {
	c := ctx(t)
	f := typ(t, "f64")
	if _, err := a.Create(c, "f", shm.Spec{Kind: shm.KindValue, Type: f, Len: 1, Mode: 0o600}, false, []shm.Value{val(t, f, "0.5")}); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Add(c, "f", 0, val(t, f, "0.25")); err != nil || v.String() != "0.75" {
		t.Fatal(v, err)
	}
}

func testCreateErrors(t *testing.T, _ Options, a, b sharedstate.Store) {
	c := ctx(t)
	i32 := typ(t, "i32")
	spec := shm.Spec{Kind: shm.KindValue, Type: i32, Len: 2, Mode: 0o600}
	if _, err := a.Create(c, "x", spec, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(c, "x", spec, false, nil); !errors.Is(err, shm.ErrExist) {
		t.Fatalf("create twice: %v", err)
	}
	if created, err := b.Create(c, "x", spec, true, nil); err != nil || created {
		t.Fatalf("create --exist-ok: %v %v", created, err)
	}
	other := spec
	other.Len = 3
	if _, err := b.Create(c, "x", other, true, nil); err == nil {
		t.Fatal("create --exist-ok with another length succeeded")
	}
	if _, err := a.Stat(c, "nothing"); !errors.Is(err, shm.ErrNotExist) {
		t.Fatalf("stat of a missing object: %v", err)
	}
	if err := a.DictSet(c, "x", "k", "v"); !errors.Is(err, shm.ErrWrongKind) {
		t.Fatalf("dict set on a value: %v", err)
	}
}

func testWait(t *testing.T, _ Options, a, b sharedstate.Store) {
	c := ctx(t)
	i64 := typ(t, "i64")
	if _, err := a.Create(c, "w", shm.Spec{Kind: shm.KindValue, Type: i64, Len: 2, Mode: 0o600}, false, nil); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(c, Short)
	defer cancel()
	if _, err := a.Wait(short, "w", 1, shm.Cond{Op: ">=", Val: val(t, i64, "3")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait for what never comes: %v", err)
	}
	got := make(chan string, 1)
	go func() {
		v, err := a.Wait(c, "w", 1, shm.Cond{Op: ">=", Val: val(t, i64, "3")})
		got <- fmt.Sprint(v, err)
	}()
	for range 3 {
		if _, err := b.Add(c, "w", 1, val(t, i64, "1")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case s := <-got:
		if s != "3 <nil>" {
			t.Fatalf("wait returned %s", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not wake")
	}
}

func testConcurrentAdd(t *testing.T, _ Options, a, b sharedstate.Store) {
	c := ctx(t)
	i64 := typ(t, "i64")
	if _, err := a.Create(c, "n", shm.Spec{Kind: shm.KindValue, Type: i64, Len: 1, Mode: 0o600}, false, nil); err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range each {
				if _, err := s.Add(c, "n", 0, val(t, i64, "1")); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want(t, a, "n", fmt.Sprintf("[%d]", workers*each))
}

func testLock(t *testing.T, o Options, a, b sharedstate.Store) {
	c := ctx(t)
	l1, err := a.Acquire(c, "lk", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ob, err := b.Stat(c, "lk"); err != nil || ob.Holders != 1 {
		t.Fatalf("held lock: %+v %v", ob, err)
	}
	if o.Clients {
		short, cancel := context.WithTimeout(c, Short)
		defer cancel()
		if _, err := b.Acquire(short, "lk", 0, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second acquire of a held lock: %v", err)
		}
	}
	got := make(chan sharedstate.Lease, 1)
	if o.Clients {
		go func() {
			l, err := b.Acquire(c, "lk", 0, 0)
			if err != nil {
				t.Error(err)
			}
			got <- l
		}()
	}
	if err := l1.Release(); err != nil {
		t.Fatal(err)
	}
	var l2 sharedstate.Lease
	if o.Clients {
		select {
		case l2 = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("waiting acquire not woken by the release")
		}
	} else if l2, err = b.Acquire(c, "lk", 0, 0); err != nil {
		t.Fatal(err)
	}
	if l2 == nil {
		t.FailNow()
	}
	if o.Fenced && l2.Fence() <= l1.Fence() {
		t.Fatalf("fence went from %d to %d", l1.Fence(), l2.Fence())
	}
	if err := l2.Release(); err != nil {
		t.Fatal(err)
	}
	if ob, err := a.Stat(c, "lk"); err != nil || ob.Holders != 0 || ob.Spec.Kind != shm.KindLock {
		t.Fatalf("released lock: %+v %v", ob, err)
	}
	if !o.Fenced {
		return
	}
	// A lease left by its holder is released by its token, once.
	l3, err := a.Acquire(c, "lk", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.ReleaseFence(c, "lk", l3.Fence()+1); !errors.Is(err, sharedstate.ErrLeaseLost) {
		t.Fatalf("release with a wrong token: %v", err)
	}
	if err := b.ReleaseFence(c, "lk", l3.Fence()); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(c, 10*time.Second)
	defer cancel()
	l4, err := b.Acquire(short, "lk", 0, 0)
	if err != nil {
		t.Fatalf("acquire after a release by token: %v", err)
	}
	l4.Release()
	if err := l3.Release(); !errors.Is(err, sharedstate.ErrLeaseLost) {
		t.Fatalf("release of a lease released by its token: %v", err)
	}
}

func testSem(t *testing.T, o Options, a, b sharedstate.Store) {
	c := ctx(t)
	l1, err := a.Acquire(c, "sm", 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if o.Clients {
		l2, err := b.Acquire(c, "sm", 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(c, Short)
		defer cancel()
		if _, err := b.Acquire(short, "sm", 2, 0); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("third acquire of two slots: %v", err)
		}
		if ob, err := a.Stat(c, "sm"); err != nil || ob.Holders != 2 || ob.Spec.Len != 2 {
			t.Fatalf("full sem: %+v %v", ob, err)
		}
		if err := l2.Release(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Acquire(c, "sm", 3, 0); !errors.Is(err, shm.ErrWrongKind) {
		t.Fatalf("acquire with another slot count: %v", err)
	}
	if err := l1.Release(); err != nil {
		t.Fatal(err)
	}
}

func testEvent(t *testing.T, _ Options, a, b sharedstate.Store) {
	c := ctx(t)
	if err := a.SetEvent(c, "ev", false); err != nil {
		t.Fatal(err)
	}
	if ob, err := b.Stat(c, "ev"); err != nil || ob.IsSet || ob.Spec.Kind != shm.KindEvent {
		t.Fatalf("cleared event: %+v %v", ob, err)
	}
	done := make(chan error, 1)
	go func() { done <- b.WaitEvent(c, "ev") }()
	select {
	case err := <-done:
		t.Fatalf("wait returned before the set: %v", err)
	case <-time.After(Short):
	}
	if err := a.SetEvent(c, "ev", true); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait not woken by the set")
	}
	if ob, err := b.Stat(c, "ev"); err != nil || !ob.IsSet {
		t.Fatalf("set event: %+v %v", ob, err)
	}
	if err := b.WaitEvent(c, "ev"); err != nil {
		t.Fatal(err)
	}
}

func testBarrier(t *testing.T, _ Options, a, b sharedstate.Store) {
	c := ctx(t)
	short, cancel := context.WithTimeout(c, Short)
	defer cancel()
	if err := a.Barrier(short, "br", 3); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lone party: %v", err)
	}
	if ob, err := a.Stat(c, "br"); err != nil || ob.Waiting != 0 {
		t.Fatalf("a party that gave up still counts: %+v %v", ob, err)
	}
	errs := make(chan error, 3)
	for i := range 3 {
		s := a
		if i == 1 {
			s = b
		}
		go func() { errs <- s.Barrier(c, "br", 3) }()
	}
	for range 3 {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("barrier did not open")
		}
	}
	if err := b.Barrier(c, "br", 4); !errors.Is(err, shm.ErrWrongKind) {
		t.Fatalf("barrier with another party count: %v", err)
	}
}

func testDict(t *testing.T, _ Options, a, b sharedstate.Store) {
	c := ctx(t)
	if _, err := a.DictGet(c, "d", "k"); !errors.Is(err, shm.ErrNotExist) {
		t.Fatalf("get from a missing dict: %v", err)
	}
	for k, v := range map[string]string{"a": "1", "b b": "two words", "c": ""} {
		if err := a.DictSet(c, "d", k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.DictSet(c, "d", "a", "one"); err != nil {
		t.Fatal(err)
	}
	if v, err := b.DictGet(c, "d", "a"); err != nil || v != "one" {
		t.Fatal(v, err)
	}
	if _, err := b.DictGet(c, "d", "zz"); !errors.Is(err, shm.ErrNoKey) {
		t.Fatalf("missing key: %v", err)
	}
	if err := a.DictDel(c, "d", "c"); err != nil {
		t.Fatal(err)
	}
	if err := a.DictDel(c, "d", "c"); !errors.Is(err, shm.ErrNoKey) {
		t.Fatalf("delete twice: %v", err)
	}
	ob, err := b.Stat(c, "d")
	if err != nil || fmt.Sprint(ob.Items) != "map[a:one b b:two words]" || ob.Spec.Kind != shm.KindDict {
		t.Fatalf("dict: %+v %v", ob, err)
	}
	if err := a.DictSet(c, "d", string(make([]byte, 1000)), "v"); err == nil {
		t.Fatal("oversized key accepted")
	}
}

func testListRemove(t *testing.T, _ Options, a, b sharedstate.Store) {
	c := ctx(t)
	i8 := typ(t, "i8")
	if _, err := a.Create(c, "one", shm.Spec{Kind: shm.KindValue, Type: i8, Len: 4, Mode: 0o600}, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := a.DictSet(c, "two", "k", "v"); err != nil {
		t.Fatal(err)
	}
	objs, err := b.List(c)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range objs {
		got[o.Name] = fmt.Sprintf("%s/%d", o.Spec.Kind, o.Spec.Len)
	}
	if got["one"] != "value/4" || got["two"] != "dict/256" || len(got) != 2 {
		t.Fatalf("list: %v", got)
	}
	if err := b.Remove(c, "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Stat(c, "one"); !errors.Is(err, shm.ErrNotExist) {
		t.Fatalf("stat after remove: %v", err)
	}
	if err := b.Remove(c, "one"); !errors.Is(err, shm.ErrNotExist) {
		t.Fatalf("remove twice: %v", err)
	}
}
