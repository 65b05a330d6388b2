package ppool

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/local"
)

func TestEncodeResultFits(t *testing.T) {
	for _, n := range []int{0, 10, queue.MaxItemSize / 2, queue.MaxItemSize, 3 * queue.MaxItemSize} {
		rec := &resultRecord{Item: "x", jobRecord: jobRecord{Stdout: strings.Repeat("o", n), Stderr: strings.Repeat("\x01", n/4)}}
		b, err := encodeResult(rec)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > queue.MaxItemSize {
			t.Fatalf("%d bytes of output: record of %d bytes", n, len(b))
		}
		var back resultRecord
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.Truncated != (len(rec.Stdout) < n) || !strings.HasPrefix(strings.Repeat("o", n), back.Stdout) {
			t.Fatalf("%d bytes of output: truncated=%v, stdout of %d bytes", n, back.Truncated, len(back.Stdout))
		}
	}
}

// next calls s.Next in the background and returns what it gives.
func next(s *queueSource) <-chan string {
	ch := make(chan string, 1)
	go func() {
		v, err := s.Next()
		if err == io.EOF {
			v = "EOF"
		} else if err != nil {
			v = "error: " + err.Error()
		}
		ch <- v
	}()
	return ch
}

func receive(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("Next did not return")
		return ""
	}
}

// TestQueueSource runs the --queue protocol on a real local queue: at most
// -j items held, a failed item taken again by the same source, the end only
// once nothing is ready and nothing of its own is running, and close giving
// back what was taken but never run.
func TestQueueSource(t *testing.T) {
	ctx := context.Background()
	q, err := local.New(t.TempDir(), local.Options{}).Create(ctx, "q", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Put(ctx, [][]byte{[]byte("a"), []byte("b")}, false); err != nil {
		t.Fatal(err)
	}
	env := &cli.Env{Name: "ppool", Stderr: io.Discard}
	s := newQueueSource(q, 1, false, time.Second, env)

	if v := receive(t, next(s)); v != "a" {
		t.Fatalf("first item %q", v)
	}
	a := s.last
	blocked := next(s) // -j 1: waits until a is settled
	select {
	case v := <-blocked:
		t.Fatalf("Next returned %q while the only slot was busy", v)
	case <-time.After(100 * time.Millisecond):
	}
	s.settle(a, false, 0) // failed: given back, and it comes first again
	if v := receive(t, blocked); v != "a" || s.last.deliveries != 2 {
		t.Fatalf("after a nack: %q, delivery %d; want a, 2", v, s.last.deliveries)
	}
	// Failed again, given back with a delay: b comes first, then, with
	// nothing else ready, the source does not end but waits for a.
	nacked := time.Now()
	s.settle(s.last, false, 300*time.Millisecond)
	if v := receive(t, next(s)); v != "b" {
		t.Fatalf("after a delayed nack: %q, want b", v)
	}
	s.settle(s.last, true, 0)
	if v := receive(t, next(s)); v != "a" || s.last.deliveries != 3 {
		t.Fatalf("after b: %q, delivery %d; want a, 3", v, s.last.deliveries)
	}
	if waited := time.Since(nacked); waited < 250*time.Millisecond {
		t.Fatalf("a came back after %v, before its nack delay", waited)
	}
	last := s.last
	// Nothing ready while a runs: the source waits for its outcome.
	end := next(s)
	select {
	case v := <-end:
		t.Fatalf("Next returned %q while an item of its own could come back", v)
	case <-time.After(100 * time.Millisecond):
	}
	s.settle(last, true, 0)
	if v := receive(t, end); v != "EOF" {
		t.Fatalf("after the last item: %q, want EOF", v)
	}
	st, _ := q.Stats(ctx)
	if st.Ready != 0 || st.Leased != 0 || st.Done != 2 {
		t.Fatalf("stats %+v, want 2 done and nothing left", st)
	}

	// close gives back an item taken but never run.
	b2 := local.New(t.TempDir(), local.Options{})
	q2, err := b2.Create(ctx, "q2", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	q2.Put(ctx, [][]byte{[]byte("c")}, false)
	s2 := newQueueSource(q2, 2, false, time.Second, env)
	if v := receive(t, next(s2)); v != "c" {
		t.Fatalf("got %q", v)
	}
	s2.close()
	if q2, err = b2.Open(ctx, "q2"); err != nil {
		t.Fatal(err)
	}
	if st, _ := q2.Stats(ctx); st.Ready != 1 || st.Leased != 0 {
		t.Fatalf("after close: %+v, want the item ready again", st)
	}
}
