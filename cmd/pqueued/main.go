// Pqueued serves pqueue queues over NATS JetStream to many machines.
package main

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/pqueued"
)

func main() { os.Exit(pqueued.Main(os.Args[1:])) }
