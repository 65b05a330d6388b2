// Pqueue gives shell scripts named, crash-safe, acknowledged queues.
package main

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/pqueue"
)

// No Dialer: the NATS client is left out so local calls start fast, and
// calls with --url are handed to pqueue-nats.
func main() { os.Exit(pqueue.Main(os.Args[1:], nil)) }
