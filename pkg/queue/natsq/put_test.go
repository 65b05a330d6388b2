package natsq_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/pkit-sh/pkit/pkg/queue"
)

// getAll takes every ready item, auto-acknowledged, in order.
func getAll(t *testing.T, q queue.Queue) []string {
	t.Helper()
	var got []string
	for {
		items, err := q.Get(testCtx(t), 1000, queue.GetOptions{NoWait: true})
		if errors.Is(err, queue.ErrEmpty) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			got = append(got, string(it.Data))
		}
	}
}

func items(n int) ([][]byte, []string) {
	var b [][]byte
	var s []string
	for i := range n {
		s = append(s, fmt.Sprintf("item %05d", i))
		b = append(b, []byte(s[i]))
	}
	return b, s
}

// TestPutPipelined: a put of many windows of pipelined publishes keeps
// the items' order.
func TestPutPipelined(t *testing.T) {
	b := dial(t)
	q, err := b.Create(testCtx(t), "many", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	in, want := items(5000)
	if n, err := q.Put(testCtx(t), in, false); n != len(in) || err != nil {
		t.Fatalf("Put = %d, %v", n, err)
	}
	if got := getAll(t, q); !slices.Equal(got, want) {
		t.Fatalf("got %d items, want %d in order", len(got), len(want))
	}
}

// TestPutPipelinedRefused: when the server starts refusing items in the
// middle of a pipelined put (here the stream's byte limit, set behind
// pqueue's back), Put reports exactly the items stored, and they are the
// first ones.
func TestPutPipelinedRefused(t *testing.T) {
	b := dial(t)
	ctx := testCtx(t)
	q, err := b.Create(ctx, "limited", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(b.Conn())
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "PQ_6c696d69746564") // hex("limited")
	if err != nil {
		t.Fatal(err)
	}
	sc := st.CachedInfo().Config
	sc.MaxBytes = 20000
	if _, err := js.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	in, want := items(2000)
	n, err := q.Put(ctx, in, true)
	if n == 0 || n == len(in) || !errors.Is(err, queue.ErrFull) {
		t.Fatalf("Put = %d, %v; want some items and ErrFull", n, err)
	}
	if got := getAll(t, q); !slices.Equal(got, want[:n]) {
		t.Fatalf("Put = %d, then got %d items; want the first %d", n, len(got), n)
	}
}
