// Pqueue-nats is pqueue with the NATS client linked in: pqueue hands it
// the calls whose queues are on a server (--url, $PQUEUE_URL), so that
// its own local calls do not pay the client's start-up. Users run pqueue.
package main

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/pqueue"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
)

func main() { os.Exit(pqueue.Main(os.Args[1:], natsq.Open)) }
