package cmd_test

import (
	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/complete"
	"github.com/pkit-sh/pkit/pkg/pjoin"
	"github.com/pkit-sh/pkit/pkg/ppool"
	"github.com/pkit-sh/pkit/pkg/pqueue"
	"github.com/pkit-sh/pkit/pkg/pqueued"
	"github.com/pkit-sh/pkit/pkg/pshm"
	"github.com/pkit-sh/pkit/pkg/pspawn"
	"github.com/pkit-sh/pkit/pkg/ptree"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
	"github.com/pkit-sh/pkit/pkg/sharedstate/natsstate"
)

// tool is one pkit binary as the tests see it.
type tool struct {
	name    string
	main    func(args []string) int
	command func() *cli.Command
}

// tools lists every pkit binary; a new tool adds its line here.
var tools = []tool{
	{"ptree", ptree.Main, ptree.Command},
	{"pshm", pshm.Main, pshm.Command},
	{"pshm-nats", func(args []string) int { return pshm.RemoteMain(args, natsstate.Open) }, pshm.RemoteCommand},
	{"pqueue", func(args []string) int { return pqueue.Main(args, nil) }, pqueue.Command},
	{"pqueue-nats", func(args []string) int { return pqueue.Main(args, natsq.Open) }, pqueue.Command},
	{"pspawn", pspawn.Main, pspawn.Command},
	{"pjoin", pjoin.Main, pjoin.Command},
	{"ppool", ppool.Main, ppool.Command},
	{"pqueued", pqueued.Main, pqueued.Command},
	{"pkit-complete", complete.Main, complete.Command},
	// TOOLS: one line per binary, keep this marker last
}

// helpers are the binaries that users never type: a tool runs pqueue-nats
// or pshm-nats,
// the completion scripts run pkit-complete. The page named by the value
// documents each; they have no page or completions of their own.
var helpers = map[string]string{"pqueue-nats": "pqueue.1", "pshm-nats": "pshm.1", "pkit-complete": "pkit.7"}
