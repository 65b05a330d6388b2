package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
)

var pqueueNatsSuite = Suite{
	Name:  "pqueuenats",
	About: "pqueue over NATS JetStream: streaming put and get+done (library and CLI) against a raw JetStream client in the same server; per-call put latency against a raw client process",
	Run:   benchPqueueNats,
}

// natsItems is the item count of one streaming run.
const natsItems = 100000

func benchPqueueNats(b *Bench) error {
	srv, err := natsserver.Start(natsserver.Config{Listen: "127.0.0.1:0", StoreDir: b.TempDir()})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	ctx := context.Background()
	item := []byte("0123456789abcdef")

	bin := filepath.Join(b.TempDir(), "bin")
	// pqueue runs pqueue-nats, next to it, for every call with a URL.
	for _, pkg := range []string{"./cmd/pqueue", "./cmd/pqueue-nats"} {
		if err := buildStatic(bin, pkg); err != nil {
			return err
		}
	}
	if err := buildStatic(bin, "./bench/rawjspub"); err != nil {
		return err
	}
	pqueue := filepath.Join(bin, "pqueue")

	var pkPut, pkGet, cliPut, cliGet, rawPut, rawAsyncPut, rawProcPut, rawProcAsyncPut, rawGetEach, rawGetBatch, rawGetSent, rawGetDrained, rawProcGet []float64
	rawjspub := filepath.Join(bin, "rawjspub")
	// Each case runs once a run; every run starts one case further on, so
	// that no case always follows the same one (the server may still be
	// busy with what the case before left, a stream being deleted, say).
	cases := []func(run int) error{
		func(run int) error {
			put, get, err := streamPkit(ctx, srv.URL(), fmt.Sprintf("pk%d", run), item)
			pkPut, pkGet = append(pkPut, put), append(pkGet, get)
			return err
		},
		func(run int) error {
			put, get, err := streamCLI(b, pqueue, srv.URL(), fmt.Sprintf("cli%d", run), item)
			cliPut, cliGet = append(cliPut, put), append(cliGet, get)
			return err
		},
		func(run int) error {
			put, err := streamRawProcess(ctx, b, rawjspub, srv.URL(), fmt.Sprintf("RAWP%d", run), item, false)
			rawProcPut = append(rawProcPut, put)
			return err
		},
		func(run int) error {
			put, err := streamRawProcess(ctx, b, rawjspub, srv.URL(), fmt.Sprintf("RAWPA%d", run), item, true)
			rawProcAsyncPut = append(rawProcAsyncPut, put)
			return err
		},
		func(run int) error {
			get, err := streamRawProcessGet(ctx, rawjspub, srv.URL(), fmt.Sprintf("RAWPG%d", run), item)
			rawProcGet = append(rawProcGet, get)
			return err
		},
		func(run int) error {
			put, get, err := streamRaw(ctx, srv.URL(), fmt.Sprintf("RAW%d", run), item, false, ackEach)
			rawPut, rawGetEach = append(rawPut, put), append(rawGetEach, get)
			return err
		},
		func(run int) error {
			put, get, err := streamRaw(ctx, srv.URL(), fmt.Sprintf("RAWF%d", run), item, true, ackSent)
			rawAsyncPut, rawGetSent = append(rawAsyncPut, put), append(rawGetSent, get)
			return err
		},
		func(run int) error {
			_, get, err := streamRaw(ctx, srv.URL(), fmt.Sprintf("RAWB%d", run), item, true, ackBatch)
			rawGetBatch = append(rawGetBatch, get)
			return err
		},
		func(run int) error {
			_, get, err := streamRaw(ctx, srv.URL(), fmt.Sprintf("RAWD%d", run), item, true, ackDrained)
			rawGetDrained = append(rawGetDrained, get)
			return err
		},
	}
	for run := 0; run < b.Runs; run++ {
		for i := range cases {
			if err := cases[(i+run)%len(cases)](run); err != nil {
				return err
			}
		}
	}
	ratio := func(a, b []float64, of string) string {
		return fmt.Sprintf("%.0f%% of %s", 100*Median(a)/Median(b), of)
	}
	ratios := func(a []float64) string {
		return ratio(a, rawGetSent, "raw Ack") + ", " + ratio(a, rawGetDrained, "raw Ack until applied") + ", " + ratio(a, rawGetBatch, "raw Ack+last DoubleAck")
	}
	b.Report(fmt.Sprintf("pqueue over JetStream vs raw JetStream client (%d items of 16 B, one connection)", natsItems),
		Row{Name: "pqueue put (natsq)", Samples: pkPut, Unit: "items/s", Note: ratio(pkPut, rawAsyncPut, "raw PublishAsync")},
		Row{Name: "raw js.PublishAsync, all acks awaited", Samples: rawAsyncPut, Unit: "items/s"},
		Row{Name: "raw js.Publish, one at a time", Samples: rawPut, Unit: "items/s"},
		Row{Name: "pqueue put < file (CLI, one process)", Samples: cliPut, Unit: "items/s", Note: ratio(cliPut, rawProcAsyncPut, "raw PublishAsync")},
		Row{Name: "raw client process, PublishAsync < file", Samples: rawProcAsyncPut, Unit: "items/s"},
		Row{Name: "raw client process, js.Publish < file", Samples: rawProcPut, Unit: "items/s"},
		Row{Name: "pqueue get+done (natsq, batches of 100)", Samples: pkGet, Unit: "items/s", Note: ratios(pkGet)},
		Row{Name: "pqueue get -n N --lease | pqueue done (CLI)", Samples: cliGet, Unit: "items/s", Note: ratio(cliGet, rawProcGet, "raw client process") + "; " + ratios(cliGet)},
		Row{Name: "raw client process, Fetch(100)+Ack", Samples: rawProcGet, Unit: "items/s", Note: "acks sent, not known applied"},
		Row{Name: "raw Fetch(100)+Ack, one Flush at the end", Samples: rawGetSent, Unit: "items/s", Note: "acks received, not known applied"},
		Row{Name: "raw Fetch(100)+Ack, until the stream is empty", Samples: rawGetDrained, Unit: "items/s", Note: "all applied: the items are gone"},
		Row{Name: "raw Fetch(100)+Ack, DoubleAck of the last", Samples: rawGetBatch, Unit: "items/s", Note: "all known applied, as pqueue done"},
		Row{Name: "raw Fetch(100)+DoubleAck", Samples: rawGetEach, Unit: "items/s", Note: "each known applied"},
	)

	// Per-call latency of one process per item: the pqueue binary, and the
	// least a JetStream client process does (connect, publish, exit).
	env := append(os.Environ(), "PQUEUE_URL="+srv.URL())
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RAWCALLS", Subjects: []string{"raw.calls"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage}); err != nil {
		return err
	}
	run := func(name string, args ...string) (float64, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%s: %v: %s", filepath.Base(name), err, out)
		}
		return float64(time.Since(start).Microseconds()) / 1000, nil
	}
	if _, err := run(pqueue, "put", "calls", "warm-up"); err != nil { // creates the queue
		return err
	}
	var lat, rawLat []float64
	for i := 0; i < 50; i++ {
		ms, err := run(pqueue, "put", "calls", strconv.Itoa(i))
		if err != nil {
			return err
		}
		lat = append(lat, ms)
		if ms, err = run(filepath.Join(bin, "rawjspub"), srv.URL(), "raw.calls", strconv.Itoa(i)); err != nil {
			return err
		}
		rawLat = append(rawLat, ms)
	}
	b.Report("put, one process per call (connect, put, exit; interleaved)",
		Row{Name: "PQUEUE_URL=nats://... pqueue put (execs pqueue-nats)", Samples: lat, Unit: "ms", Note: fmt.Sprintf("%.2fx raw", Median(lat)/Median(rawLat))},
		Row{Name: "raw client process (connect, js.Publish)", Samples: rawLat, Unit: "ms"},
	)
	return nil
}

// streamCLI puts natsItems through one `pqueue put` process reading a file,
// then takes and acknowledges them with `pqueue get -n N --lease | pqueue
// done`, and returns both rates in items/s (process start included).
func streamCLI(b *Bench, pqueue, url, name string, item []byte) (float64, float64, error) {
	dir := b.TempDir()
	in := filepath.Join(dir, "items")
	if err := os.WriteFile(in, bytes.Repeat(append(slices.Clone(item), '\n'), natsItems), 0o644); err != nil {
		return 0, 0, err
	}
	pq := func(args ...string) error {
		cmd := exec.Command(pqueue, args...)
		cmd.Env = append(os.Environ(), "PQUEUE_URL="+url)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("pqueue %s: %v: %s", args[0], err, out)
		}
		return nil
	}
	// Made beforehand, as the raw anchors' streams are: the put is timed
	// alone. Its lease is the one get asks for (another would cost one
	// more message per item, as pqueue(1) says).
	if err := pq("create", "--lease", "1m", name); err != nil {
		return 0, 0, err
	}
	sh := func(script string) (float64, error) {
		cmd := exec.Command("sh", "-c", script, "sh", pqueue, name, in, strconv.Itoa(natsItems))
		cmd.Env = append(os.Environ(), "PQUEUE_URL="+url)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%s: %v: %s", script, err, out)
		}
		return natsItems / time.Since(start).Seconds(), nil
	}
	put, err := sh(`"$1" put "$2" < "$3"`)
	if err != nil {
		return 0, 0, err
	}
	get, err := sh(`"$1" get -n "$4" --lease 1m "$2" | "$1" done "$2"`)
	if err != nil {
		return 0, 0, err
	}
	// Checked after the clock stopped: pqueue done has exited 0, so every
	// item must be gone.
	if _, err := sh(`[ "$("$1" size "$2")" = 0 ]`); err != nil {
		return 0, 0, err
	}
	return put, get, pq("rm", name)
}

// streamPkit puts then gets and acknowledges natsItems through natsq and
// returns both rates in items/s.
func streamPkit(ctx context.Context, url, name string, item []byte) (float64, float64, error) {
	be, err := natsq.Dial(url, queue.Auth{})
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

// rawQueue connects the raw client and makes a work-queue stream on
// subject raw.NAME with its consumer "w", as pqueue makes a queue (the
// server checks each new item against the consumer, so the put anchors'
// streams need one too).
func rawQueue(ctx context.Context, url, name string) (*nats.Conn, jetstream.JetStream, jetstream.Stream, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, nil, nil, err
	}
	js, _ := jetstream.New(nc)
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"raw." + name},
		Retention: jetstream.WorkQueuePolicy, Discard: jetstream.DiscardNew, Storage: jetstream.FileStorage})
	if err == nil {
		_, err = st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "w", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: -1})
	}
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	return nc, js, st, nil
}

// streamRawProcess puts natsItems with the raw client in a process of its
// own reading a file, as streamCLI does with pqueue, publishing one at a
// time or asynchronously, and returns items/s.
func streamRawProcess(ctx context.Context, b *Bench, rawjspub, url, name string, item []byte, async bool) (float64, error) {
	nc, js, _, err := rawQueue(ctx, url, name)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	in := filepath.Join(b.TempDir(), "items")
	if err := os.WriteFile(in, bytes.Repeat(append(slices.Clone(item), '\n'), natsItems), 0o644); err != nil {
		return 0, err
	}
	f, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	args := []string{url, "raw." + name}
	if async {
		args = append([]string{"-async"}, args...)
	}
	cmd := exec.Command(rawjspub, args...)
	cmd.Stdin = f
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("rawjspub: %v: %s", err, out)
	}
	rate := natsItems / time.Since(start).Seconds()
	return rate, js.DeleteStream(ctx, name)
}

// streamRawProcessGet takes natsItems with the raw client in a process of
// its own (fetch 100, ack each, flush, exit), as streamCLI's get | done
// does with pqueue, and returns items/s. The items are put beforehand;
// once the clock has stopped, the stream must drain (the acks were right).
func streamRawProcessGet(ctx context.Context, rawjspub, url, name string, item []byte) (float64, error) {
	nc, js, st, err := rawQueue(ctx, url, name)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	for i := 0; i < natsItems; i++ {
		if _, err := js.PublishAsync("raw."+name, item, jetstream.WithStallWait(30*time.Second)); err != nil {
			return 0, err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return 0, fmt.Errorf("%d publishes not acknowledged", js.PublishAsyncPending())
	}
	cmd := exec.Command(rawjspub, "-get", strconv.Itoa(natsItems), url, name)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("rawjspub -get: %v: %s", err, out)
	}
	rate := natsItems / time.Since(start).Seconds()
	if err := waitEmpty(ctx, st, 10*time.Millisecond); err != nil {
		return 0, fmt.Errorf("raw get: %w", err)
	}
	return rate, js.DeleteStream(ctx, name)
}

// waitEmpty polls st every poll until its acknowledged items are gone
// (applied by the server), for at most 30 s.
func waitEmpty(ctx context.Context, st jetstream.Stream, poll time.Duration) error {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(poll) {
		si, err := st.Info(ctx)
		if err != nil {
			return err
		}
		if si.State.Msgs == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d items still in the stream 30 s after their acks", si.State.Msgs)
		}
	}
}

// rawAcks is how the raw client acknowledges what it fetched.
type rawAcks int

const (
	ackEach    rawAcks = iota // DoubleAck of each message: each known applied
	ackBatch                  // Ack, and DoubleAck of a batch's last: all known applied, as pqueue done
	ackSent                   // Ack, one Flush at the end: acks received, not known applied
	ackDrained                // Ack, clock stopped once the stream is empty: all applied
)

// streamRaw does the same with the plain JetStream client: the careful
// client publishes one at a time, the fast one (the raw anchor)
// asynchronously, waiting for all acknowledgements at the end.
func streamRaw(ctx context.Context, url, name string, item []byte, async bool, acks rawAcks) (float64, float64, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	var pubErr atomic.Pointer[error]
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
		pubErr.CompareAndSwap(nil, &err)
	}))
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
		if async {
			// A slow server stalls the publisher: wait rather than fail.
			_, err = js.PublishAsync("raw."+name, item, jetstream.WithStallWait(30*time.Second))
		} else {
			_, err = js.Publish(ctx, "raw."+name, item)
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if async {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(30 * time.Second):
			return 0, 0, fmt.Errorf("%d publishes not acknowledged", js.PublishAsyncPending())
		}
		if err := pubErr.Load(); err != nil {
			return 0, 0, *err
		}
	}
	put := natsItems / time.Since(start).Seconds()
	start = time.Now()
	for got := 0; got < natsItems; {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			return 0, 0, err
		}
		var ms []jetstream.Msg
		for m := range batch.Messages() {
			ms = append(ms, m)
		}
		for i, m := range ms {
			if acks == ackEach || acks == ackBatch && i == len(ms)-1 {
				err = m.DoubleAck(ctx)
			} else {
				err = m.Ack()
			}
			if err != nil {
				return 0, 0, err
			}
		}
		got += len(ms)
	}
	if err := nc.Flush(); err != nil {
		return 0, 0, err
	}
	if acks == ackDrained {
		if err := waitEmpty(ctx, st, 200*time.Microsecond); err != nil {
			return 0, 0, err
		}
	}
	return put, natsItems / time.Since(start).Seconds(), js.DeleteStream(ctx, name)
}
