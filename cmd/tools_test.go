package cmd_test

import (
	"github.com/pkit-sh/pkit/pkg/cli"
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
	// TOOLS: one line per binary, keep this marker last
}
