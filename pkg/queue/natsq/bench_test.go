package natsq_test

import (
	"context"
	"testing"

	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/natsserver/natstest"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
)

// BenchmarkGetDone measures leased gets in batches of 100 and their Done.
func BenchmarkGetDone(b *testing.B) {
	srv := natstest.Start(b, natsserver.Config{})
	be, err := natsq.Dial(srv.URL(), queue.Auth{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	ctx := context.Background()
	q, err := be.Create(ctx, "bench", queue.Config{})
	if err != nil {
		b.Fatal(err)
	}
	items := make([][]byte, b.N)
	for i := range items {
		items[i] = []byte("0123456789abcdef")
	}
	if _, err := q.Put(ctx, items, false); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for got := 0; got < b.N; {
		its, err := q.Get(ctx, min(100, b.N-got), queue.GetOptions{Lease: queue.DefaultLease})
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]string, len(its))
		for i, it := range its {
			ids[i] = it.ID
		}
		if err := q.Done(ctx, ids...); err != nil {
			b.Fatal(err)
		}
		got += len(its)
	}
}
