// Package complete answers shell completion for the pkit tools from their
// kong grammars. It runs as a binary of its own, pkit-complete, which the
// scripts in completions/ call as the shell completes, so that the tools
// themselves do not link the completion code: it cost every start of every
// tool about 0.6 ms, 7% of a hello-world Go program's start here.
package complete

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	kongcompletion "github.com/jotaen/kong-completion"
	"github.com/posener/complete"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/pjoin"
	"github.com/pkit-sh/pkit/pkg/ppool"
	"github.com/pkit-sh/pkit/pkg/pqueue"
	"github.com/pkit-sh/pkit/pkg/pqueued"
	"github.com/pkit-sh/pkit/pkg/pshm"
	"github.com/pkit-sh/pkit/pkg/pspawn"
	"github.com/pkit-sh/pkit/pkg/ptree"
)

// CLI is pkit-complete's grammar.
type CLI struct {
	Tool  string   `arg:"" help:"The tool whose command line COMP_LINE holds."`
	Words []string `arg:"" optional:"" passthrough:"" help:"Ignored: the words bash passes after the tool's name."`

	tools map[string]*cli.Command
}

// Tool is a pkit tool users type: its grammar.
type Tool struct {
	Command func() *cli.Command
}

// Tools is the one list of the tools users type: pkit-complete completes
// them, and cmd's tests build and run them (cmd/<name>) and check their
// pages, completion files and import sets. A new tool adds its line here.
func Tools() []Tool {
	return []Tool{
		{pjoin.Command},
		{ppool.Command},
		{pqueue.Command},
		{pqueued.Command},
		{pshm.Command},
		{pspawn.Command},
		{ptree.Command},
	}
}

// Command returns pkit-complete's description for the shared CLI plumbing.
func Command() *cli.Command {
	c := &CLI{tools: map[string]*cli.Command{}}
	for _, t := range Tools() {
		cmd := t.Command()
		c.tools[cmd.Name] = cmd
	}
	return &cli.Command{Name: "pkit-complete", Help: "Answer shell completion for the pkit tools (called by their completion scripts).", Grammar: c}
}

// Main runs pkit-complete with args and returns its exit status.
func Main(args []string) int { return cli.Run(Command(), args) }

// Run prints the completions of the command line in $COMP_LINE (and
// $COMP_POINT), as bash's complete -C and the zsh and fish scripts set it.
func (c *CLI) Run(env *cli.Env) error {
	tool, ok := c.tools[c.Tool]
	if !ok {
		return cli.Usagef("unknown tool %q (one of %s)", c.Tool, strings.Join(slices.Sorted(maps.Keys(c.tools)), ", "))
	}
	if os.Getenv("COMP_LINE") == "" {
		return cli.Usagef("COMP_LINE is not set: the completion scripts call pkit-complete as the shell completes a command line")
	}
	parser, err := cli.Parser(tool, env.Stdout, env.Stderr)
	if err != nil {
		return fmt.Errorf("%s grammar: %w", tool.Name, err)
	}
	cmd, err := kongcompletion.Command(parser, kongcompletion.WithPredictors(predictors()))
	if err != nil {
		return fmt.Errorf("%s completion: %w", tool.Name, err)
	}
	comp := complete.New(tool.Name, cmd)
	comp.Out = env.Stdout
	if !comp.Complete() {
		return fmt.Errorf("no completion answered for %q", os.Getenv("COMP_LINE"))
	}
	return nil
}

// listPredictor completes the last item of a comma-separated list of
// words, each also with the given prefixes ("-" for a descending sort key).
func listPredictor(words []string, prefixes ...string) complete.Predictor {
	return complete.PredictFunc(func(a complete.Args) []string {
		head := a.Last[:strings.LastIndex(a.Last, ",")+1]
		var out []string
		for _, p := range append([]string{""}, prefixes...) {
			for _, w := range words {
				out = append(out, head+p+w)
			}
		}
		return out
	})
}
