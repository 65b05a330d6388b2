// Command rawjspub is the raw-client anchor of bench/pqueuenats.go that runs
// as a process of its own, as pqueue does: the least a JetStream client
// does to put items (connect, publish each and wait for the stream's
// acknowledgement, exit). With -async, lines of stdin are published
// without waiting for each acknowledgement, and it exits once all came.
// With -get N it takes N items instead, as a raw worker does: fetch
// batches of 100 from the stream's durable consumer "w", ack each item,
// flush the connection and exit (the acks sent, not known applied).
//
//	rawjspub URL SUBJECT ITEM...
//	rawjspub [-async] URL SUBJECT < LINES
//	rawjspub -get N URL STREAM
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	async := flag.Bool("async", false, "publish stdin's lines asynchronously")
	get := flag.Int("get", 0, "take `N` items from the stream's consumer w instead")
	flag.Parse()
	if flag.NArg() < 2 {
		fmt.Fprintln(os.Stderr, "usage: rawjspub [-async] URL SUBJECT [ITEM...] | rawjspub -get N URL STREAM")
		os.Exit(2)
	}
	url, subj := flag.Arg(0), flag.Arg(1)
	nc, err := nats.Connect(url)
	if err != nil {
		fail(nil, err)
	}
	defer nc.Close()
	var asyncErr atomic.Pointer[error]
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, _ *nats.Msg, err error) {
		asyncErr.CompareAndSwap(nil, &err)
	}))
	if err != nil {
		fail(nc, err)
	}
	if *get > 0 {
		take(nc, js, subj, *get)
		return
	}
	publish := func(item []byte) {
		if _, err := js.Publish(context.Background(), subj, item); err != nil {
			fail(nc, err)
		}
	}
	if flag.NArg() > 2 {
		for _, item := range flag.Args()[2:] {
			publish([]byte(item))
		}
		return
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if !*async {
			publish(sc.Bytes())
			continue
		}
		// The scanner reuses its buffer; the message is held until acknowledged.
		// A slow server stalls the publisher: wait rather than fail.
		if _, err := js.PublishAsync(subj, append([]byte(nil), sc.Bytes()...), jetstream.WithStallWait(30*time.Second)); err != nil {
			fail(nc, err)
		}
	}
	if *async {
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(30 * time.Second):
			fail(nc, fmt.Errorf("%d publishes not acknowledged", js.PublishAsyncPending()))
		}
		if err := asyncErr.Load(); err != nil {
			fail(nc, *err)
		}
	}
}

// take fetches n items of stream's consumer w, 100 at a time, and acks
// each.
func take(nc *nats.Conn, js jetstream.JetStream, stream string, n int) {
	cons, err := js.Consumer(context.Background(), stream, "w")
	if err != nil {
		fail(nc, err)
	}
	for got := 0; got < n; {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			fail(nc, err)
		}
		for m := range batch.Messages() {
			if err := m.Ack(); err != nil {
				fail(nc, err)
			}
			got++
		}
		if err := batch.Error(); err != nil {
			fail(nc, err)
		}
	}
	if err := nc.Flush(); err != nil {
		fail(nc, err)
	}
}

func fail(nc *nats.Conn, err error) {
	fmt.Fprintln(os.Stderr, "rawjspub:", err)
	if nc != nil {
		nc.Close()
	}
	os.Exit(1)
}
