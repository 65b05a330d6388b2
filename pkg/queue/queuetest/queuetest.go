// Package queuetest is the conformance suite every queue.Backend passes:
// ordering, binary items and the size limit, bounded puts, blocking gets
// with timeouts, leases with done/nack/extend/expiry, dead-letter queues,
// join, stats, purge and concurrent producers and consumers.
//
// A backend's test calls Run with a constructor that returns a fresh, empty
// backend for each subtest:
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T) queue.Backend { ... })
//	}
package queuetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/queue"
)

// Short is the lease and timeout scale of the suite: long enough for a
// loaded CI machine to be on time, short enough to keep the suite fast.
const Short = 300 * time.Millisecond

// Run runs the conformance suite against backends made by newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) queue.Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b queue.Backend)
	}{
		{"Namespace", testNamespace},
		{"Order", testOrder},
		{"Binary", testBinary},
		{"TooLarge", testTooLarge},
		{"EmptyNoWaitTimeout", testEmpty},
		{"BlockingGetWakes", testBlockingGet},
		{"MaxSize", testMaxSize},
		{"LeaseDone", testLeaseDone},
		{"Nack", testNack},
		{"LeaseExpiry", testExpiry},
		{"StaleLease", testStaleLease},
		{"DelayedNackStats", testDelayedNackStats},
		{"Extend", testExtend},
		{"Attach", testAttach},
		{"DeadLetter", testDeadLetter},
		{"Redelivered", testRedelivered},
		{"Join", testJoin},
		{"Stats", testStats},
		{"Purge", testPurge},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			t.Cleanup(func() { b.Close() })
			tc.fn(t, b)
		})
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// long bounds operations that must not block.
func long(t *testing.T) context.Context { return ctxFor(t, 20*time.Second) }

func mustCreate(t *testing.T, b queue.Backend, name string, cfg queue.Config) queue.Queue {
	t.Helper()
	q, err := b.Create(long(t), name, cfg)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func mustPut(t *testing.T, q queue.Queue, items ...string) {
	t.Helper()
	bs := make([][]byte, len(items))
	for i, s := range items {
		bs[i] = []byte(s)
	}
	if n, err := q.Put(long(t), bs, false); err != nil || n != len(bs) {
		t.Fatalf("Put(%d items) = %d, %v", len(bs), n, err)
	}
}

func mustGet(t *testing.T, q queue.Queue, max int, opt queue.GetOptions) []queue.Item {
	t.Helper()
	items, err := q.Get(long(t), max, opt)
	if err != nil {
		t.Fatalf("Get(%d, %+v): %v", max, opt, err)
	}
	return items
}

func mustStats(t *testing.T, q queue.Queue) queue.Stats {
	t.Helper()
	st, err := q.Stats(long(t))
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

func wantEmpty(t *testing.T, q queue.Queue) {
	t.Helper()
	if items, err := q.Get(long(t), 1, queue.GetOptions{NoWait: true}); !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("Get(NoWait) on an empty queue = %q, %v; want ErrEmpty", datas(items), err)
	}
}

func datas(items []queue.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = string(it.Data)
	}
	return out
}

func testNamespace(t *testing.T, b queue.Backend) {
	ctx := long(t)
	if _, err := b.Open(ctx, "nosuch"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Open(missing) = %v, want ErrNotFound", err)
	}
	if err := b.Remove(ctx, "nosuch"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Remove(missing) = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "a/b", "..", ".x"} {
		if _, err := b.Create(ctx, bad, queue.Config{}); err == nil {
			t.Errorf("Create(%q) succeeded", bad)
		}
	}
	cfg := queue.Config{MaxSize: 7, Lease: 2 * time.Second, MaxDeliveries: 3}
	q := mustCreate(t, b, "alpha", cfg)
	if q.Name() != "alpha" || q.Config() != cfg {
		t.Errorf("Name, Config = %q, %+v; want alpha, %+v", q.Name(), q.Config(), cfg)
	}
	if again, err := b.Create(ctx, "alpha", cfg); err != nil {
		t.Errorf("Create(same config) = %v, want success", err)
	} else {
		again.Close()
	}
	if _, err := b.Create(ctx, "alpha", queue.Config{MaxSize: 8}); !errors.Is(err, queue.ErrExists) {
		t.Errorf("Create(other config) = %v, want ErrExists", err)
	}
	e, err := b.Ensure(ctx, "beta", queue.Config{MaxSize: 5})
	if err != nil {
		t.Fatalf("Ensure(new): %v", err)
	}
	e.Close()
	e, err = b.Ensure(ctx, "alpha", queue.Config{})
	if err != nil || e.Config() != cfg {
		t.Fatalf("Ensure(existing) = %v; config %+v, want %+v", err, e.Config(), cfg)
	}
	e.Close()
	o, err := b.Open(ctx, "alpha")
	if err != nil || o.Config() != cfg {
		t.Fatalf("Open = %v; config %+v, want %+v", err, o.Config(), cfg)
	}
	o.Close()
	names, err := b.List(ctx)
	if err != nil || !slices.Contains(names, "alpha") || !slices.Contains(names, "beta") || !slices.IsSorted(names) {
		t.Errorf("List = %q, %v; want sorted, with alpha and beta", names, err)
	}
	if err := b.Remove(ctx, "beta"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := b.Open(ctx, "beta"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Open(removed) = %v, want ErrNotFound", err)
	}
}

func testOrder(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "order", queue.Config{})
	var want []string
	for i := range 300 {
		want = append(want, fmt.Sprintf("item %d", i))
	}
	mustPut(t, q, want[:100]...) // one batch
	for _, s := range want[100:] {
		mustPut(t, q, s) // one at a time
	}
	var got []string
	for len(got) < len(want) {
		max := 1 + len(got)%50
		items := mustGet(t, q, max, queue.GetOptions{})
		if len(items) == 0 || len(items) > max {
			t.Fatalf("Get(%d) returned %d items", max, len(items))
		}
		for _, it := range items {
			if it.ID != "" || it.Deliveries != 1 {
				t.Fatalf("auto-ack item has ID %q, deliveries %d", it.ID, it.Deliveries)
			}
		}
		got = append(got, datas(items)...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("order: got %q...", got[:10])
	}
	wantEmpty(t, q)
}

func testBinary(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "bin", queue.Config{})
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat([]byte("x\x00\n"), queue.MaxItemSize/3)
	big = append(big, make([]byte, queue.MaxItemSize-len(big))...)
	items := [][]byte{all, {}, []byte("\n\n"), []byte("\x00"), big, []byte("\xff\xfe not utf-8")}
	if n, err := q.Put(long(t), items, false); err != nil || n != len(items) {
		t.Fatalf("Put = %d, %v", n, err)
	}
	for i, want := range items {
		got := mustGet(t, q, 1, queue.GetOptions{})
		if len(got) != 1 || !bytes.Equal(got[0].Data, want) {
			t.Fatalf("item %d: got %d items, %d bytes; want %d bytes", i, len(got), len(got[0].Data), len(want))
		}
	}
}

func testTooLarge(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "large", queue.Config{})
	huge := make([]byte, queue.MaxItemSize+1)
	if n, err := q.Put(long(t), [][]byte{huge}, false); n != 0 || !errors.Is(err, queue.ErrTooLarge) {
		t.Errorf("Put(MaxItemSize+1) = %d, %v; want 0, ErrTooLarge", n, err)
	}
	if n, err := q.Put(long(t), [][]byte{[]byte("ok"), huge, []byte("never")}, false); n != 1 || !errors.Is(err, queue.ErrTooLarge) {
		t.Errorf("Put(ok, huge, never) = %d, %v; want 1, ErrTooLarge", n, err)
	}
	if got := datas(mustGet(t, q, 10, queue.GetOptions{})); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("after refused put: %q, want [ok]", got)
	}
	wantEmpty(t, q)
}

func testEmpty(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "empty", queue.Config{})
	wantEmpty(t, q)
	start := time.Now()
	_, err := q.Get(ctxFor(t, Short), 1, queue.GetOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get with timeout on empty = %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el < Short-10*time.Millisecond || el > Short+3*time.Second {
		t.Errorf("timeout %v took %v", Short, el)
	}
}

func testBlockingGet(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "wake", queue.Config{})
	other, err := b.Open(long(t), "wake")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	got := make(chan []queue.Item, 1)
	go func() {
		items, _ := q.Get(long(t), 5, queue.GetOptions{})
		got <- items
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	mustPut(t, other, "hello")
	select {
	case items := <-got:
		if !slices.Equal(datas(items), []string{"hello"}) {
			t.Errorf("woken get = %q", datas(items))
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("get woke %v after the put", el)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked get never woke")
	}
}

func testMaxSize(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "bounded", queue.Config{MaxSize: 2})
	mustPut(t, q, "a", "b")
	if n, err := q.Put(long(t), [][]byte{[]byte("c")}, true); n != 0 || !errors.Is(err, queue.ErrFull) {
		t.Errorf("Put(NoWait) on full = %d, %v; want 0, ErrFull", n, err)
	}
	start := time.Now()
	if n, err := q.Put(ctxFor(t, Short), [][]byte{[]byte("c")}, false); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Put(timeout) on full = %d, %v; want 0, DeadlineExceeded", n, err)
	}
	if el := time.Since(start); el < Short-10*time.Millisecond {
		t.Errorf("put timeout %v returned after %v", Short, el)
	}
	st := mustStats(t, q)
	if st.Ready != 2 || st.MaxSize != 2 {
		t.Errorf("stats of a full queue: %+v", st)
	}
	// A blocked put proceeds when a get makes room, and leased items count.
	done := make(chan error, 1)
	go func() {
		_, err := q.Put(long(t), [][]byte{[]byte("c"), []byte("d")}, false)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if got := datas(mustGet(t, q, 1, queue.GetOptions{})); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("get = %q", got)
	}
	leased := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})
	select {
	case err := <-done:
		t.Fatalf("put of 2 into a queue with 1 free slot returned %v", err)
	case <-time.After(Short):
	}
	if err := q.Done(long(t), leased[0].ID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("blocked put: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocked put never proceeded")
	}
	if got := datas(mustGet(t, q, 5, queue.GetOptions{})); !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("after blocked put: %q, want [c d]", got)
	}
	// A batch larger than the room puts what fits with NoWait.
	if n, err := q.Put(long(t), [][]byte{[]byte("1"), []byte("2"), []byte("3")}, true); n != 2 || !errors.Is(err, queue.ErrFull) {
		t.Errorf("Put(3, NoWait) into room for 2 = %d, %v; want 2, ErrFull", n, err)
	}
}

func testLeaseDone(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "lease", queue.Config{})
	mustPut(t, q, "one", "two")
	items := mustGet(t, q, 2, queue.GetOptions{Lease: 10 * time.Second})
	if len(items) == 0 {
		t.Fatal("no items")
	}
	for _, it := range items {
		// A word a shell passes on as it is, even re-parsed (sh -c).
		if it.ID == "" || strings.ContainsAny(it.ID, " \t\n$`\\\"'*?[]{}()<>|&;~!#") || it.Deliveries != 1 {
			t.Fatalf("leased item: ID %q, deliveries %d", it.ID, it.Deliveries)
		}
	}
	if len(items) == 1 {
		items = append(items, mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})...)
	}
	if items[0].ID == items[1].ID || !slices.Equal(datas(items), []string{"one", "two"}) {
		t.Fatalf("leased %q with IDs %q, %q", datas(items), items[0].ID, items[1].ID)
	}
	st := mustStats(t, q)
	if st.Ready != 0 || st.Leased != 2 {
		t.Errorf("stats with 2 leased: %+v", st)
	}
	wantEmpty(t, q)
	if err := q.Done(long(t), items[0].ID, items[1].ID); err != nil {
		t.Fatalf("Done: %v", err)
	}
	if err := q.Done(long(t), items[0].ID); !errors.Is(err, queue.ErrUnknownLease) {
		t.Errorf("second Done = %v, want ErrUnknownLease", err)
	}
	if err := q.Done(long(t), "bogus-id"); !errors.Is(err, queue.ErrBadLease) {
		t.Errorf("Done(bogus) = %v, want ErrBadLease", err)
	}
	if err := q.Nack(long(t), items[1].ID, 0); !errors.Is(err, queue.ErrUnknownLease) {
		t.Errorf("Nack(done item) = %v, want ErrUnknownLease", err)
	}
	if st := mustStats(t, q); st.Ready != 0 || st.Leased != 0 || st.Done != 2 {
		t.Errorf("stats after done: %+v", st)
	}
	wantEmpty(t, q)
}

func testNack(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "nack", queue.Config{})
	mustPut(t, q, "job")
	first := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
	if err := q.Nack(long(t), first.ID, 0); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	second := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
	if string(second.Data) != "job" || second.Deliveries != 2 || second.ID == first.ID {
		t.Fatalf("redelivery: %q, deliveries %d, ID %q (first %q)", second.Data, second.Deliveries, second.ID, first.ID)
	}
	// A delayed nack: not ready at once, ready after the delay.
	if err := q.Nack(long(t), second.ID, Short); err != nil {
		t.Fatalf("Nack(delay): %v", err)
	}
	start := time.Now()
	wantEmpty(t, q)
	third := mustGet(t, q, 1, queue.GetOptions{})[0]
	if el := time.Since(start); el < Short-50*time.Millisecond {
		t.Errorf("delayed item came back after %v, delay %v", el, Short)
	}
	if string(third.Data) != "job" || third.Deliveries != 3 {
		t.Errorf("third delivery: %q, %d", third.Data, third.Deliveries)
	}
	wantEmpty(t, q)
}

func testExpiry(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "expiry", queue.Config{})
	mustPut(t, q, "slow")
	mustGet(t, q, 1, queue.GetOptions{Lease: Short})
	start := time.Now()
	again := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
	if el := time.Since(start); el < Short-50*time.Millisecond {
		t.Errorf("redelivered %v after a %v lease", el, Short)
	}
	if string(again.Data) != "slow" || again.Deliveries != 2 {
		t.Errorf("after expiry: %q, deliveries %d", again.Data, again.Deliveries)
	}
	if err := q.Done(long(t), again.ID); err != nil {
		t.Errorf("Done(current lease) = %v", err)
	}
	// A lease longer than the queue's holds the item that long.
	mustPut(t, q, "long")
	held := mustGet(t, q, 1, queue.GetOptions{Lease: queue.DefaultLeaseDuration + time.Minute})[0]
	if err := q.Extend(long(t), held.ID, 3*Short); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	start = time.Now()
	again = mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
	if el := time.Since(start); el < 3*Short-50*time.Millisecond || again.Deliveries != 2 {
		t.Errorf("redelivered %v after a %v lease, deliveries %d", el, 3*Short, again.Deliveries)
	}
	if err := q.Done(long(t), again.ID); err != nil {
		t.Errorf("Done(current lease) = %v", err)
	}
}

// testDelayedNackStats: an item given back with a delay counts as ready,
// not leased, while it waits.
func testDelayedNackStats(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "delayed", queue.Config{})
	mustPut(t, q, "job")
	it := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
	if err := q.Nack(long(t), it.ID, 10*time.Second); err != nil {
		t.Fatalf("Nack(delay): %v", err)
	}
	if st := mustStats(t, q); st.Ready != 1 || st.Leased != 0 {
		t.Errorf("stats with a delayed item: %+v", st)
	}
}

// testStaleLease: the ID of an earlier delivery of an item no longer
// settles it, once the item was given back or its lease expired.
func testStaleLease(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "stale", queue.Config{})
	mustPut(t, q, "job")
	first := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
	if err := q.Nack(long(t), first.ID, 0); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	second := mustGet(t, q, 1, queue.GetOptions{Lease: Short})[0]
	if err := q.Done(long(t), first.ID); !errors.Is(err, queue.ErrUnknownLease) {
		t.Errorf("Done(given back) = %v, want ErrUnknownLease", err)
	}
	third := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
	if err := q.Done(long(t), second.ID); !errors.Is(err, queue.ErrUnknownLease) {
		t.Errorf("Done(expired lease) = %v, want ErrUnknownLease", err)
	}
	if err := q.Done(long(t), third.ID); err != nil || third.Deliveries != 3 {
		t.Errorf("Done(current lease) = %v, deliveries %d", err, third.Deliveries)
	}
}

func testExtend(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "extend", queue.Config{})
	mustPut(t, q, "work")
	it := mustGet(t, q, 1, queue.GetOptions{Lease: Short})[0]
	for range 3 {
		time.Sleep(Short / 2)
		if err := q.Extend(long(t), it.ID, Short*2); err != nil {
			t.Fatalf("Extend: %v", err)
		}
	}
	wantEmpty(t, q)
	if err := q.Done(long(t), it.ID); err != nil {
		t.Fatalf("Done after extends: %v", err)
	}
	if err := q.Extend(long(t), it.ID, Short); !errors.Is(err, queue.ErrUnknownLease) {
		t.Errorf("Extend(done) = %v, want ErrUnknownLease", err)
	}
}

// testAttach: a held lease takes a process group; an ID that is no lease
// is refused; the lease stays held and is done as usual.
func testAttach(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "attach", queue.Config{})
	mustPut(t, q, "work")
	it := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
	if err := q.Attach(long(t), it.ID, syscall.Getpgrp()); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if err := q.Attach(long(t), "bogus-id", syscall.Getpgrp()); !errors.Is(err, queue.ErrBadLease) {
		t.Errorf("Attach(bogus) = %v, want ErrBadLease", err)
	}
	wantEmpty(t, q)
	if st := mustStats(t, q); st.Leased != 1 || st.Ready != 0 {
		t.Errorf("stats with an attached lease: %+v", st)
	}
	if err := q.Done(long(t), it.ID); err != nil {
		t.Fatalf("Done after Attach: %v", err)
	}
}

// testRedelivered: a failed item shows in the counts of redelivered items
// (and, where the backend keeps it, of the most deliveries).
func testRedelivered(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "redelivered", queue.Config{})
	mustPut(t, q, "poison", "fine")
	for i := 1; i <= 3; i++ {
		it := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
		if string(it.Data) != "poison" {
			t.Fatalf("delivery %d: %q", i, it.Data)
		}
		if err := q.Nack(long(t), it.ID, 0); err != nil {
			t.Fatal(err)
		}
	}
	it := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
	st := mustStats(t, q)
	if st.Redelivered != 1 || (st.MostDeliveries != 0 && st.MostDeliveries != 4) {
		t.Errorf("stats with an item delivered 4 times: %+v", st)
	}
	if err := q.Done(long(t), it.ID); err != nil {
		t.Fatal(err)
	}
}

func testDeadLetter(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "poison", queue.Config{MaxDeliveries: 2})
	mustPut(t, q, "bad", "good")
	for i := 1; i <= 2; i++ {
		it := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
		if string(it.Data) != "bad" || it.Deliveries != i {
			t.Fatalf("delivery %d: %q, deliveries %d", i, it.Data, it.Deliveries)
		}
		if err := q.Nack(long(t), it.ID, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := datas(mustGet(t, q, 5, queue.GetOptions{})); !slices.Equal(got, []string{"good"}) {
		t.Errorf("after 2 failed deliveries: %q, want [good]", got)
	}
	wantEmpty(t, q)
	dead, err := b.Open(long(t), "poison"+queue.DeadSuffix)
	if err != nil {
		t.Fatalf("Open dead-letter queue: %v", err)
	}
	defer dead.Close()
	if got := datas(mustGet(t, dead, 5, queue.GetOptions{NoWait: true})); !slices.Equal(got, []string{"bad"}) {
		t.Errorf("dead-letter queue holds %q, want [bad]", got)
	}
	if st := mustStats(t, q); st.Dead != 1 || st.Ready != 0 || st.Leased != 0 {
		t.Errorf("stats after dead-lettering: %+v", st)
	}
	if err := q.Join(ctxFor(t, 5*time.Second)); err != nil {
		t.Errorf("Join after dead-lettering: %v", err)
	}
}

func testJoin(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "join", queue.Config{})
	if err := q.Join(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatalf("Join on an empty queue: %v", err)
	}
	mustPut(t, q, "x", "y")
	if err := q.Join(ctxFor(t, Short/2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join with ready items = %v, want DeadlineExceeded", err)
	}
	mustGet(t, q, 1, queue.GetOptions{})
	it := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
	if err := q.Join(ctxFor(t, Short/2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join with a leased item = %v, want DeadlineExceeded", err)
	}
	joined := make(chan error, 1)
	go func() { joined <- q.Join(long(t)) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-joined:
		t.Fatalf("Join returned %v while an item is leased", err)
	default:
	}
	if err := q.Done(long(t), it.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-joined:
		if err != nil {
			t.Fatalf("Join: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Join never returned after the last Done")
	}
}

func testStats(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "stats", queue.Config{MaxSize: 100})
	mustPut(t, q, "aaaa", "bb", "c")
	st := mustStats(t, q)
	if st.Ready != 3 || st.Leased != 0 || st.Delivered != 0 || st.MaxSize != 100 || st.Bytes != 7 {
		t.Errorf("after 3 puts: %+v", st)
	}
	mustGet(t, q, 1, queue.GetOptions{})
	it := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
	st = mustStats(t, q)
	if st.Ready != 1 || st.Leased != 1 || st.Delivered != 2 || st.Bytes != 3 || st.Done != 1 {
		t.Errorf("after a get and a lease: %+v", st)
	}
	if err := q.Nack(long(t), it.ID, 0); err != nil {
		t.Fatal(err)
	}
	mustGet(t, q, 5, queue.GetOptions{})
	st = mustStats(t, q)
	if st.Ready != 0 || st.Leased != 0 || st.Delivered != 4 || st.Bytes != 0 || st.Done != 3 {
		t.Errorf("after draining: %+v", st)
	}
}

func testPurge(t *testing.T, b queue.Backend) {
	q := mustCreate(t, b, "purge", queue.Config{})
	mustPut(t, q, "keep", "a", "b", "c")
	it := mustGet(t, q, 1, queue.GetOptions{Lease: 10 * time.Second})[0]
	n, err := q.Purge(long(t))
	if err != nil || n != 3 {
		t.Fatalf("Purge = %d, %v; want 3", n, err)
	}
	wantEmpty(t, q)
	if st := mustStats(t, q); st.Ready != 0 || st.Leased != 1 {
		t.Errorf("after purge: %+v", st)
	}
	if err := q.Nack(long(t), it.ID, 0); err != nil {
		t.Fatal(err)
	}
	mustPut(t, q, "new")
	if got := datas(mustGet(t, q, 5, queue.GetOptions{})); !slices.Equal(got, []string{"keep", "new"}) {
		t.Errorf("after purge and nack: %q, want [keep new]", got)
	}
}

// testConcurrent runs producers and leasing consumers on separate handles;
// every item is delivered exactly once (no lease expires) and each
// producer's items arrive in its order at the single ordered consumer.
func testConcurrent(t *testing.T, b queue.Backend) {
	const producers, consumers, per = 4, 4, 250
	mustCreate(t, b, "mpmc", queue.Config{MaxSize: 50})
	open := func() queue.Queue {
		q, err := b.Open(long(t), "mpmc")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	}
	ctx := ctxFor(t, 60*time.Second)
	var wg sync.WaitGroup
	for p := range producers {
		q := open()
		wg.Go(func() {
			for i := 0; i < per; i += 5 {
				batch := make([][]byte, 5)
				for j := range batch {
					batch[j] = fmt.Appendf(nil, "%d:%d", p, i+j)
				}
				if _, err := q.Put(ctx, batch, false); err != nil {
					t.Errorf("producer %d: %v", p, err)
					return
				}
			}
		})
	}
	var mu sync.Mutex
	seen := map[string]int{}
	total := 0
	for range consumers {
		q := open()
		wg.Go(func() {
			for {
				mu.Lock()
				finished := total >= producers*per
				mu.Unlock()
				if finished {
					return
				}
				items, err := q.Get(ctxFor(t, Short), 3, queue.GetOptions{Lease: 30 * time.Second})
				if errors.Is(err, context.DeadlineExceeded) {
					continue
				}
				if err != nil {
					t.Errorf("consumer: %v", err)
					return
				}
				ids := make([]string, len(items))
				mu.Lock()
				for i, it := range items {
					seen[string(it.Data)]++
					ids[i] = it.ID
				}
				total += len(items)
				mu.Unlock()
				if err := q.Done(ctx, ids...); err != nil {
					t.Errorf("done: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != producers*per {
		t.Fatalf("%d distinct items delivered, want %d", len(seen), producers*per)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("item %s delivered %d times", k, n)
		}
	}
	q := open()
	if err := q.Join(ctxFor(t, 5*time.Second)); err != nil {
		t.Errorf("Join after all done: %v", err)
	}
}
