// Pshm shares typed values, arrays, locks, semaphores, events, barriers and
// dicts between processes in POSIX shared memory.
package main

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/pshm"
)

func main() { os.Exit(pshm.Main(os.Args[1:])) }
