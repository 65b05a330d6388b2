// Pqueue gives shell scripts named, crash-safe, acknowledged queues.
package main

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/pqueue"
)

func main() { os.Exit(pqueue.Main(os.Args[1:])) }
