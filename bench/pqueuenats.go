package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
)

var pqueueNatsSuite = Suite{
	Name:  "pqueuenats",
	About: "pqueue over NATS JetStream: streaming put and get+done against a raw JetStream client in the same server; per-call CLI put latency",
	Run:   benchPqueueNats,
}

// natsItems is the item count of one streaming run.
const natsItems = 20000

func benchPqueueNats(b *Bench) error {
	srv, err := natsserver.Start(natsserver.Config{Listen: "127.0.0.1:0", StoreDir: b.TempDir()})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	ctx := context.Background()
	item := []byte("0123456789abcdef")

	var pkPut, pkGet, rawPut, rawGet []float64
	for run := 0; run < b.Runs; run++ {
		put, get, err := streamPkit(ctx, srv.URL(), fmt.Sprintf("pk%d", run), item)
		if err != nil {
			return err
		}
		pkPut, pkGet = append(pkPut, put), append(pkGet, get)
		put, get, err = streamRaw(ctx, srv.URL(), fmt.Sprintf("RAW%d", run), item)
		if err != nil {
			return err
		}
		rawPut, rawGet = append(rawPut, put), append(rawGet, get)
	}
	ratio := func(a, b []float64) string { return fmt.Sprintf("%.0f%% of raw", 100*Median(a)/Median(b)) }
	b.Report(fmt.Sprintf("pqueue over JetStream vs raw JetStream client (%d items of 16 B, one connection)", natsItems),
		Row{Name: "pqueue put (natsq)", Samples: pkPut, Unit: "items/s", Note: ratio(pkPut, rawPut)},
		Row{Name: "raw js.Publish", Samples: rawPut, Unit: "items/s"},
		Row{Name: "pqueue get+done (natsq, batches of 100)", Samples: pkGet, Unit: "items/s", Note: ratio(pkGet, rawGet)},
		Row{Name: "raw Fetch(100)+DoubleAck", Samples: rawGet, Unit: "items/s"},
	)

	// Per-call latency of the pqueue binary against the server.
	bin := filepath.Join(b.TempDir(), "bin")
	if err := buildStatic(bin, "./cmd/pqueue"); err != nil {
		return err
	}
	var lat []float64
	for i := 0; i < 50; i++ {
		cmd := exec.Command(filepath.Join(bin, "pqueue"), "put", "calls", strconv.Itoa(i))
		cmd.Env = append(os.Environ(), "PQUEUE_URL="+srv.URL())
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("pqueue put: %v: %s", err, out)
		}
		lat = append(lat, float64(time.Since(start).Microseconds())/1000)
	}
	b.Report("pqueue put, one process per call (connect, put, exit)", Row{Name: "PQUEUE_URL=nats://... pqueue put", Samples: lat, Unit: "ms"})
	return nil
}

// streamPkit puts then gets and acknowledges natsItems through natsq and
// returns both rates in items/s.
func streamPkit(ctx context.Context, url, name string, item []byte) (float64, float64, error) {
	be, err := natsq.Dial(url, natsq.Auth{})
	if err != nil {
		return 0, 0, err
	}
	defer be.Close()
	q, err := be.Create(ctx, name, queue.Config{})
	if err != nil {
		return 0, 0, err
	}
	items := make([][]byte, natsItems)
	for i := range items {
		items[i] = item
	}
	start := time.Now()
	if _, err := q.Put(ctx, items, false); err != nil {
		return 0, 0, err
	}
	put := natsItems / time.Since(start).Seconds()
	start = time.Now()
	for got := 0; got < natsItems; {
		its, err := q.Get(ctx, 100, queue.GetOptions{Lease: queue.DefaultLease})
		if err != nil {
			return 0, 0, err
		}
		ids := make([]string, len(its))
		for i, it := range its {
			ids[i] = it.ID
		}
		if err := q.Done(ctx, ids...); err != nil {
			return 0, 0, err
		}
		got += len(its)
	}
	return put, natsItems / time.Since(start).Seconds(), be.Remove(ctx, name)
}

// streamRaw does the same with the plain JetStream client.
func streamRaw(ctx context.Context, url, name string, item []byte) (float64, float64, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"raw." + name},
		Retention: jetstream.WorkQueuePolicy, Discard: jetstream.DiscardNew, Storage: jetstream.FileStorage})
	if err != nil {
		return 0, 0, err
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	for i := 0; i < natsItems; i++ {
		if _, err := js.Publish(ctx, "raw."+name, item); err != nil {
			return 0, 0, err
		}
	}
	put := natsItems / time.Since(start).Seconds()
	start = time.Now()
	for got := 0; got < natsItems; {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			return 0, 0, err
		}
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil {
				return 0, 0, err
			}
			got++
		}
	}
	return put, natsItems / time.Since(start).Seconds(), js.DeleteStream(ctx, name)
}
