// Package ppool is the ppool tool: a process pool that runs a command once
// per input item with GNU parallel's replacement strings, output grouping,
// job log and halting rules, spawning jobs directly at xargs speed.
package ppool

import (
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/pkit-sh/pkit/pkg/cli"
)

// CLI is ppool's kong grammar.
type CLI struct {
	Jobs         string       `listen:"" short:"j" default:"100%" help:"Jobs at once: N, N% of the CPUs, or 0 for as many as there are items."`
	Null         bool         `short:"0" help:"Items on stdin and in -a files end with NUL, not newline."`
	ArgFile      []string     `short:"a" name:"arg-file" type:"path" help:"Read items from FILE (repeatable: one input source each) (default: the ::: items, else stdin)."`
	Link         bool         `help:"Pair the input sources item by item instead of taking their cartesian product."`
	Colsep       string       `short:"C" help:"Split each item into columns {1} {2}... at this regular expression (default: none, an item is one column)."`
	Shell        string       `listen:"" placeholder:"SHELL" help:"Run CMD as SHELL -c SCRIPT, e.g. bash (default: none: CMD runs directly, a one-word script with $PARALLEL_SHELL or else sh, a function exported by bash with bash)."`
	KeepOrder    bool         `short:"k" name:"keep-order" help:"Print outputs in input order."`
	LineBuffer   bool         `name:"line-buffer" help:"Print output line by line as it comes, never splitting a line."`
	Tag          bool         `help:"Prefix each output line with the item and a tab."`
	Ungroup      bool         `short:"u" help:"Let jobs write straight to stdout and stderr (fastest; lines may mix)."`
	Timeout      cli.Duration `listen:"" help:"Stop a job that runs longer than DUR (TERM, then KILL after --grace) (default: no limit)."`
	Grace        cli.Duration `listen:"" default:"2s" help:"Time between TERM and KILL."`
	Retries      int          `default:"1" help:"Run a failing job up to N times in all."`
	Halt         string       `default:"never" help:"When to stop: now|soon,fail=N|success=N|done=N (N may be a percentage), or never." completion-predictor:"halt"`
	Delay        cli.Duration `help:"Wait at least DUR between job starts (default: no wait)."`
	Load         float64      `help:"Start no job while the 1-minute load average is above this (default: no limit)."`
	Memfree      string       `help:"Start no job while available memory is below SIZE, e.g. 500M, 2G (default: no limit)."`
	DryRun       bool         `name:"dry-run" help:"Print the commands instead of running them."`
	Joblog       string       `listen:"" type:"path" help:"Write a GNU parallel compatible job log to FILE (default: none)."`
	Resume       bool         `help:"Skip jobs already in the --joblog."`
	ResumeFailed bool         `name:"resume-failed" help:"Skip jobs that succeeded in the --joblog; rerun the failed."`
	JSON         bool         `listen:"" name:"json" help:"Print one JSON record per job instead of its output."`
	Progress     bool         `listen:"" help:"Show progress on stderr (default when stderr is a terminal); in pipe mode by bytes."`
	NoProgress   bool         `listen:"" name:"no-progress" help:"Never show progress."`
	Eta          bool         `help:"Read all input first and show the estimated time left on stderr; in pipe mode by bytes of the input's size."`
	Cmd          []string     `arg:"" optional:"" passthrough:"" help:"CMD [ARGS...] [::: ITEMS...] [:::: FILES...]"`
	Server       ListenFlags  `embed:""` // --listen: a server, see listen.go
	Queues       QueueFlags   `embed:""` // --queue, --results: see queue.go
	PipeFlags    `embed:""`   // --pipe, --pipepart: see pipe.go
	BatchFlags   `embed:""`   // -N, -X: see batch.go
}

// Command describes ppool for cli.Run and the tests.
func Command() *cli.Command {
	return &cli.Command{Name: "ppool", Help: "Run a command for every input item, N at a time.", Grammar: &CLI{}}
}

// Main runs ppool with args.
func Main(args []string) int { return cli.Run(Command(), args) }

// Run builds the pool from the flags and runs it.
func (c *CLI) Run(env *cli.Env) error {
	if c.Server.listening() {
		return c.serve(env)
	}
	args := c.Cmd
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	} else if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		// passthrough swallows unknown flags; a command never starts with "-".
		return cli.Usagef("unknown flag %s", args[0])
	}
	words, sources, err := splitGroups(args)
	if err != nil {
		return cli.Exit(cli.ExitUsage, err)
	}
	shell, err := chooseShell(c.Shell, words, os.Getenv)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return cli.Usagef("no command given")
	}
	sep := byte('\n')
	if c.Null {
		sep = 0
	}
	var inputSize int64
	var deal *dealer // --round-robin
	if c.PipeFlags.on() {
		if len(sources) > 0 || c.Queues.Queue != "" {
			return cli.Usagef("--pipe and --pipepart read stdin or -a FILE, not ::: or --queue")
		}
		src, size, err := c.pipeSource(env)
		if err != nil {
			return err
		}
		inputSize = size
		inner := src
		if d, ok := src.(*dealer); ok {
			deal, inner = d, d.src
		}
		if f, ok := inner.(*partSource); ok && !f.stream {
			defer f.f.Close()
		}
		sources = []Source{src}
	}
	var files []Source
	argFiles := c.ArgFile
	if c.PipeFlags.on() {
		argFiles = nil // the input of the blocks
	}
	for _, name := range argFiles {
		f, err := os.Open(name)
		if err != nil {
			return cli.Exit(cli.ExitUsage, fmt.Errorf("input file: %w", err))
		}
		defer f.Close()
		files = append(files, newReaderSource(f, sep))
	}
	sources = append(files, sources...)
	qr, err := c.Queues.open(c, env, len(sources) > 0)
	if err != nil {
		return err
	}
	if qr != nil {
		defer qr.close()
		if qr.src != nil {
			sources = []Source{qr.src}
		}
	}
	if len(sources) == 0 {
		sources = append(sources, newReaderSource(env.Stdin, sep))
	}
	var colsep *regexp.Regexp
	if c.Colsep != "" {
		if colsep, err = regexp.Compile(c.Colsep); err != nil {
			return cli.Usagef("--colsep: %v", err)
		}
	}
	items, err := NewItems(sources, c.Link, colsep)
	if err != nil {
		return err
	}
	jobs, err := parseJobs(c.Jobs)
	if err != nil {
		return err
	}
	halt, err := parseHalt(c.Halt)
	if err != nil {
		return err
	}
	memfree, err := parseSize(c.Memfree)
	if err != nil {
		return err
	}
	if (c.Resume || c.ResumeFailed) && c.Joblog == "" {
		return cli.Usagef("--resume needs --joblog")
	}
	modes := 0
	for _, b := range []bool{c.Ungroup, c.LineBuffer, c.KeepOrder && c.Ungroup} {
		if b {
			modes++
		}
	}
	if modes > 1 || (c.JSON && (c.Ungroup || c.LineBuffer)) {
		return cli.Usagef("-u, --line-buffer and --json exclude each other")
	}
	if c.Retries < 0 {
		return cli.Usagef("--retries %d: want N >= 1, the runs of a failing job in all", c.Retries)
	}
	c.Retries = max(c.Retries, 1) // 0, as GNU parallel takes it: one run
	tpl := ParseTemplate(words)
	if items.batch, err = c.BatchFlags.newBatcher(tpl, words); err != nil {
		return err
	}
	if items.batch != nil && (c.PipeFlags.on() || c.Queues.Queue != "") {
		return cli.Usagef("-N and -X take items, not --pipe blocks or --queue leases")
	}
	if n := tpl.MaxColumn(); n > len(sources) && colsep == nil && (items.batch == nil || items.batch.n > 0 && n > items.batch.n*len(sources)) {
		// Without --colsep an item has one value per input source.
		cols := "1 column"
		if len(sources) != 1 {
			cols = strconv.Itoa(len(sources)) + " columns"
		}
		return cli.Usagef("{%d}: the items have %s, one per input source (--colsep splits items into columns)", n, cols)
	}
	p := &Pool{
		Template:   tpl,
		Words:      words,
		Shell:      shell,
		Jobs:       jobs,
		KeepOrder:  c.KeepOrder,
		LineBuffer: c.LineBuffer,
		Tag:        c.Tag,
		Ungroup:    c.Ungroup,
		Timeout:    c.Timeout.D(),
		Grace:      c.Grace.D(),
		Retries:    c.Retries,
		Halt:       halt,
		Delay:      c.Delay.D(),
		Load:       c.Load,
		Memfree:    memfree,
		DryRun:     c.DryRun,
		Joblog:     c.Joblog,
		Resume:     c.Resume,
		ResumeFail: c.ResumeFailed,
		JSON:       c.JSON,
		Progress:   !c.NoProgress && (c.Progress || c.Eta || cli.IsTerminal(os.Stderr)),
		Eta:        c.Eta,
		PipeMode:   c.PipeFlags.on(),
		InputSize:  inputSize,
	}
	if qr != nil {
		p.afterJob = func(r *result, out, errOut *outFile) { qr.afterJob(p, r, out, errOut) }
		if qr.src != nil {
			p.onStart = func(j *job, pgid int) {
				if j.lease != nil {
					qr.src.attach(j.lease, pgid)
				}
			}
		}
		return qr.end(p.Run(env, items))
	}
	err = p.Run(env, items)
	if deal != nil && p.interrupt.Load() == 0 {
		if derr := deal.failed(); derr != nil {
			return derr // the jobs' feeds met it, not the pool
		}
	}
	return err
}

func parseJobs(s string) (int, error) {
	ncpu := runtime.NumCPU()
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.ParseFloat(pct, 64)
		if err != nil || n <= 0 {
			return 0, cli.Usagef("-j %q: want N, N%% or 0", s)
		}
		return max(1, int(float64(ncpu)*n/100)), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, cli.Usagef("-j %q: want N, N%% or 0", s)
	}
	return n, nil // 0: unbounded
}

// HaltRule is --halt: when (now or soon) to stop after what.
type HaltRule struct {
	Never bool
	Now   bool
	What  string // "fail", "success" or "done"
	N     int
	Pct   float64 // >0: N is a percentage of the jobs so far (at least 1 done)
}

func parseHalt(s string) (HaltRule, error) {
	if s == "" || s == "never" {
		return HaltRule{Never: true}, nil
	}
	bad := cli.Usagef("--halt %q: want now|soon,fail=N|success=N|done=N or never", s)
	when, cond, ok := strings.Cut(s, ",")
	if !ok || (when != "now" && when != "soon") {
		return HaltRule{}, bad
	}
	what, num, ok := strings.Cut(cond, "=")
	if !ok || (what != "fail" && what != "success" && what != "done") {
		return HaltRule{}, bad
	}
	r := HaltRule{Now: when == "now", What: what}
	if pct, isPct := strings.CutSuffix(num, "%"); isPct {
		f, err := strconv.ParseFloat(pct, 64)
		if err != nil || f <= 0 || f > 100 {
			return HaltRule{}, bad
		}
		r.Pct = f
		return r, nil
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 {
		return HaltRule{}, bad
	}
	r.N = n
	return r, nil
}

func parseSize(s string) (uint64, error) {
	n, err := cli.ParseSize(s)
	if err != nil {
		return 0, cli.Usagef("--memfree %q: want a size like 500M or 2G", s)
	}
	return n, nil
}
