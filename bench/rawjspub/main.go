// Command rawjspub is the raw-client anchor of bench/pqueuenats.go that runs
// as a process of its own, as pqueue does: the least a JetStream client
// does to put items (connect, publish each and wait for the stream's
// acknowledgement, exit).
//
//	rawjspub URL SUBJECT ITEM...
//	rawjspub URL SUBJECT < LINES
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: rawjspub URL SUBJECT [ITEM...]")
		os.Exit(2)
	}
	nc, err := nats.Connect(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawjspub:", err)
		os.Exit(1)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rawjspub:", err)
		os.Exit(1)
	}
	publish := func(item []byte) {
		if _, err := js.Publish(context.Background(), os.Args[2], item); err != nil {
			fmt.Fprintln(os.Stderr, "rawjspub:", err)
			nc.Close()
			os.Exit(1)
		}
	}
	if len(os.Args) > 3 {
		for _, item := range os.Args[3:] {
			publish([]byte(item))
		}
		return
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		publish(sc.Bytes())
	}
}
