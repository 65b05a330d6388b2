package pqueue

import (
	"os"
	"syscall"

	"github.com/pkit-sh/pkit/pkg/cli"
)

// companion is the pqueue that links the NATS client, installed with this
// one: see Main.
const companion = "pqueue-nats"

// handOff replaces the process with the companion, given the same
// arguments and environment, when the queues are on a server and this
// binary cannot reach them (it has no Dialer). It runs before anything is
// read or written, so the companion gets the call untouched, and the
// process keeps its PID, so leases held for it or its parent stay right.
// It returns only on failure, as a usage error (exit 2): like refused
// credentials, a retry will not fix it, and 1 would read as an answer of
// get --nowait, empty or full.
func (g *Globals) handOff(args []string) error {
	if g.dial != nil || !g.Remote() {
		return nil
	}
	path, err := cli.CompanionPath(companion)
	if err == nil {
		err = syscall.Exec(path, append([]string{path}, args...), os.Environ())
	}
	return cli.Usagef("--url needs %s, installed with pqueue: %v", companion, err)
}
