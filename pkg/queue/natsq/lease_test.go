package natsq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/natsserver/natstest"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
)

func dial(t *testing.T) *natsq.Backend {
	t.Helper()
	srv := natstest.Start(t, natsserver.Config{})
	b, err := natsq.Dial(srv.URL(), queue.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// testCtx bounds a call that would otherwise hang on a broken server: a
// safety limit, not a speed target (10,000 items under -race on a loaded
// 2-core machine have taken over 10 s).
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func putN(t *testing.T, q queue.Queue, n int) {
	t.Helper()
	items := make([][]byte, n)
	for i := range items {
		items[i] = fmt.Appendf(nil, "item %d", i)
	}
	if _, err := q.Put(testCtx(t), items, false); err != nil {
		t.Fatal(err)
	}
}

func leaseAll(t *testing.T, q queue.Queue, n int) []string {
	t.Helper()
	var ids []string
	for len(ids) < n {
		items, err := q.Get(testCtx(t), n-len(ids), queue.GetOptions{Lease: queue.DefaultLease})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			ids = append(ids, it.ID)
		}
	}
	return ids
}

func wantStats(t *testing.T, q queue.Queue, ready, leased, done int64) {
	t.Helper()
	st, err := q.Stats(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Ready != ready || st.Leased != leased || st.Done != done {
		t.Fatalf("stats %+v, want ready %d leased %d done %d", st, ready, leased, done)
	}
}

// TestDoneBatch acknowledges many items in one call, and every one is gone
// when Done returns (the server's answer to the last ack vouches for all).
func TestDoneBatch(t *testing.T) {
	b := dial(t)
	q, err := b.Create(testCtx(t), "batch", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 10000
	putN(t, q, n)
	ids := leaseAll(t, q, n)
	if err := q.Done(testCtx(t), ids...); err != nil {
		t.Fatal(err)
	}
	wantStats(t, q, 0, 0, n)
	if err := q.Done(testCtx(t), ids[:3]...); !errors.Is(err, queue.ErrUnknownLease) || !strings.Contains(err.Error(), "3 leases") {
		t.Fatalf("Done(done items) = %v, want 3 unknown leases", err)
	}
}

// TestAutoAckBatch: a get without a lease hands out items that are gone.
func TestAutoAckBatch(t *testing.T) {
	b := dial(t)
	q, err := b.Create(testCtx(t), "auto", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	putN(t, q, 500)
	items, err := q.Get(testCtx(t), 1000, queue.GetOptions{})
	if err != nil || len(items) != 500 || items[0].ID != "" || string(items[499].Data) != "item 499" {
		t.Fatalf("Get = %d items, %v", len(items), err)
	}
	wantStats(t, q, 0, 0, 500)
}

// TestDoneUnknown: IDs that are not leases of this queue, repeated IDs,
// and a forged ID of an item not delivered yet fail with ErrUnknownLease
// (IDs that are no lease ID at all with ErrBadLease)
// (at once: the server would never answer an ack for an undelivered item),
// and the valid IDs given with them are acknowledged.
func TestDoneUnknown(t *testing.T) {
	b := dial(t)
	ctx := testCtx(t)
	q, err := b.Create(ctx, "mine", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.Create(ctx, "other", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	putN(t, q, 4)
	putN(t, other, 1)
	ids := leaseAll(t, q, 2)
	otherID := leaseAll(t, other, 1)[0]
	forged := strings.Replace(ids[1], fmt.Sprintf(".%d.", 2), ".4.", 1) // stream seq 4: in the stream, not delivered
	for _, bad := range []string{otherID, "bogus", "$JS.ACK.x.y", forged} {
		start := time.Now()
		err := q.Done(ctx, ids[0], bad, ids[0])
		want := queue.ErrUnknownLease
		if bad == "bogus" || bad == "$JS.ACK.x.y" {
			want = queue.ErrBadLease
		}
		if !errors.Is(err, want) || time.Since(start) > 5*time.Second {
			t.Fatalf("Done(valid, %q, valid again) = %v after %v", bad, err, time.Since(start))
		}
		if bad == otherID {
			wantStats(t, q, 2, 1, 1) // ids[0] done, ids[1] leased
		}
	}
	wantStats(t, other, 0, 1, 0)
	if err := other.Done(ctx, otherID); err != nil {
		t.Fatal(err)
	}
	if err := q.Done(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
}

// TestDoneHoles: items done out of order leave holes in the stream; a
// lease is told from a done item through the stream's list of holes, and
// past maxDeletedDetails holes by looking each item up.
func TestDoneHoles(t *testing.T) {
	for _, few := range []bool{true, false} {
		t.Run(fmt.Sprintf("listed=%v", few), func(t *testing.T) {
			if !few {
				t.Cleanup(natsq.SetMaxDeletedDetails(2))
			}
			b := dial(t)
			ctx := testCtx(t)
			q, err := b.Create(ctx, "holes", queue.Config{})
			if err != nil {
				t.Fatal(err)
			}
			putN(t, q, 20)
			ids := leaseAll(t, q, 20)
			var even, odd []string
			for i, id := range ids {
				if i%2 == 0 {
					even = append(even, id)
				} else {
					odd = append(odd, id)
				}
			}
			if err := q.Done(ctx, odd[1:]...); err != nil { // holes at 4, 6, ..., 20
				t.Fatal(err)
			}
			err = q.Done(ctx, append(append([]string{}, even[1:]...), odd[3], odd[5])...)
			if !errors.Is(err, queue.ErrUnknownLease) || !strings.Contains(err.Error(), "2 leases") {
				t.Fatalf("Done(leased and done items) = %v, want 2 unknown leases", err)
			}
			wantStats(t, q, 0, 2, 18)
			if err := q.Done(ctx, even[0], odd[0]); err != nil {
				t.Fatal(err)
			}
			wantStats(t, q, 0, 0, 20)
		})
	}
}

// TestDoneTwice: an item done is no longer leased, whether the items were
// done in order (the consumer's info tells) or not (the stream's holes do).
func TestDoneTwice(t *testing.T) {
	b := dial(t)
	ctx := testCtx(t)
	q, err := b.Create(ctx, "twice", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	putN(t, q, 4)
	ids := leaseAll(t, q, 4)
	for _, id := range []string{ids[0], ids[2]} { // in order, then past a leased item
		if err := q.Done(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := q.Done(ctx, id); !errors.Is(err, queue.ErrUnknownLease) {
			t.Fatalf("Done(done item) = %v, want ErrUnknownLease", err)
		}
	}
	wantStats(t, q, 0, 2, 2)
	if err := q.Done(ctx, ids[1], ids[3]); err != nil {
		t.Fatal(err)
	}
	wantStats(t, q, 0, 0, 4)
}
