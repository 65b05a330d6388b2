package cmd_test

import (
	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/complete"
	"github.com/pkit-sh/pkit/pkg/pqueue"
	"github.com/pkit-sh/pkit/pkg/pshm"
)

// tool is one pkit binary as the tests see it: its name (and
// cmd/<name>) and its grammar.
type tool struct {
	name    string
	command func() *cli.Command
}

// tools lists every pkit binary: the tools users type, from their one list
// (complete.Tools), and the helpers.
var tools = func() []tool {
	var all []tool
	for _, t := range complete.Tools() {
		all = append(all, tool{t.Command().Name, t.Command})
	}
	return append(all,
		tool{"pqueue-nats", pqueue.Command},
		tool{"pshm-nats", pshm.RemoteCommand},
		tool{"pkit-complete", complete.Command})
}()

// helpers are the binaries that users never type: a tool runs pqueue-nats
// or pshm-nats,
// the completion scripts run pkit-complete. The page named by the value
// documents each; they have no page or completions of their own.
var helpers = map[string]string{"pqueue-nats": "pqueue.1", "pshm-nats": "pshm.1", "pkit-complete": "pkit.7"}
