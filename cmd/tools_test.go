package cmd_test

import (
	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/pjoin"
	"github.com/pkit-sh/pkit/pkg/ppool"
	"github.com/pkit-sh/pkit/pkg/pqueue"
	"github.com/pkit-sh/pkit/pkg/pqueued"
	"github.com/pkit-sh/pkit/pkg/pshm"
	"github.com/pkit-sh/pkit/pkg/pspawn"
	"github.com/pkit-sh/pkit/pkg/ptree"
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
	{"pqueue", pqueue.Main, pqueue.Command},
	{"pspawn", pspawn.Main, pspawn.Command},
	{"pjoin", pjoin.Main, pjoin.Command},
	{"ppool", ppool.Main, ppool.Command},
	{"pqueued", pqueued.Main, pqueued.Command},
	// TOOLS: one line per binary, keep this marker last
}
