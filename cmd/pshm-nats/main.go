// Pshm-nats is pshm with the NATS client linked in: pshm hands it the
// calls whose objects are on a server (--url, $PSHM_URL), so that its own
// local calls do not pay the client's start-up. Users run pshm.
package main

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/pshm"
	"github.com/pkit-sh/pkit/pkg/sharedstate/natsstate"
)

func main() { os.Exit(pshm.RemoteMain(os.Args[1:], natsstate.Open)) }
