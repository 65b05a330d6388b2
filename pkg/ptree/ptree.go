// Package ptree implements the ptree command: the process tree with the
// kernel's state codes, for humans (a drawn tree, colour) and for scripts
// (tab-separated columns, JSON Lines, exit status 1 when a filter matches
// nothing).
package ptree

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"os/user"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/proc"
)

// CLI is ptree's command line.
type CLI struct {
	Targets []string `arg:"" optional:"" name:"pid|user" help:"Root the tree at these PIDs, or show these users' processes with their ancestors; '-' reads PIDs from stdin (as does no argument with stdin a pipe or file)."`

	ASCII    bool         `name:"ascii" short:"A" help:"Draw branches with ASCII characters instead of box drawing."`
	Kernel   bool         `short:"k" help:"Also show kernel threads (the tree under kthreadd, PID 2)."`
	Threads  bool         `short:"T" help:"Show each process's threads as {name}(tid) before its children."`
	Long     bool         `short:"l" help:"Add user, RSS, CPU%, start time and the full command line."`
	States   bool         `help:"Print the meaning of the state letters and modifiers, and exit."`
	State    string       `placeholder:"LETTERS" help:"Only processes in these states, e.g. Z,D or ZD (with their ancestors unless --flat) (default: all)." completion-predictor:"ptree-state"`
	User     []string     `short:"u" placeholder:"USER" sep:"," help:"Only processes of these users (names or UIDs; repeatable, comma-separated) (default: all)."`
	Name     string       `short:"n" placeholder:"REGEXP" help:"Only processes whose name or command line matches REGEXP (default: all)."`
	PID      []int        `short:"p" name:"pid" placeholder:"PID" sep:"," help:"Only the subtree of PID (repeatable, comma-separated) (default: all)."`
	Flat     bool         `short:"f" help:"Only the matching processes, one a line, no tree."`
	Fields   string       `short:"o" placeholder:"FIELDS" help:"Flat output with these comma-separated columns (pid,ppid,state,stat,name,user,rss,cpu,%cpu,%mem,tty,read_bps,write_bps,fds,ports,cgroup,wchan,cmd,...) (default: none, draw the tree)." completion-predictor:"ptree-fields"`
	Sort     sortList     `placeholder:"[-]FIELD,..." help:"Order flat output, and siblings in the tree, by these fields, numerically where they are numbers; '-' sorts descending, e.g. -%cpu (default: by PID; -%cpu with --top)." completion-predictor:"ptree-sort"`
	Top      int          `placeholder:"N" help:"Only the N processes with the most %cpu over the interval (or the most of --sort's first field), with their ancestors (default: all)."`
	Interval cli.Duration `default:"0.5" placeholder:"DUR" help:"Measure %cpu, read_bps and write_bps over DUR (with -w: over each refresh)."`
	Header   bool         `short:"H" help:"Print a header line above flat, --zombies and --orphans output."`
	JSON     bool         `help:"One JSON object per process (JSON Lines), with its children's PIDs."`
	Count    bool         `short:"c" help:"Print how many processes are in each state."`
	Zombies  bool         `short:"z" help:"List zombies: pid, ppid, parent name, how long dead, exit status, and who must reap them."`
	Orphans  bool         `help:"List orphans: processes adopted by PID 1 or a subreaper after their session leader exited."`
	Watch    cli.Duration `short:"w" placeholder:"DUR" help:"Redraw every DUR (e.g. 1, 500ms) until interrupted, with rates over each refresh; --json stamps each frame's objects with its time (default: draw once)."`

	stamp string // the time of a --json --watch frame
}

// Command returns ptree's description for the shared CLI plumbing.
func Command() *cli.Command {
	return &cli.Command{Name: "ptree", Help: "Show the process tree with the kernel's state codes.", Grammar: &CLI{}}
}

// Main runs ptree with args and returns its exit status.
func Main(args []string) int { return cli.Run(Command(), args) }

// errNoMatch is exit status 1 without a message: a filter matched nothing,
// which scripts test as they test grep.
var errNoMatch = cli.Exit(cli.ExitFail, nil)

// Run runs ptree.
func (c *CLI) Run(env *cli.Env) error {
	w := bufio.NewWriterSize(env.Stdout, 64<<10)
	err := c.run(env, w)
	if ferr := w.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("write output: %w", ferr)
	}
	return err
}

func (c *CLI) run(env *cli.Env, w *bufio.Writer) error {
	if c.States {
		legend(w)
		return nil
	}
	if err := c.validate(); err != nil {
		return err
	}
	sel, err := c.selection(env)
	if err != nil {
		return err
	}
	out, _ := env.Stdout.(*os.File)
	if c.Watch > 0 {
		return c.watch(w, sel, cli.IsTerminal(out))
	}
	var before *snapshot
	if c.rates() {
		if before, err = c.measure(context.Background(), sel); err != nil {
			return err
		}
	}
	_, err = c.once(w, sel, cli.Color(out), true, nil, before)
	return err
}

// measure takes the counters at the start of the interval and waits it
// out; the scan after it gives the rates.
func (c *CLI) measure(ctx context.Context, sel *selection) (*snapshot, error) {
	t, err := scan()
	if err != nil {
		return nil, fmt.Errorf("read process table: %w", err)
	}
	if c.uses(func(f field) bool { return f.name == "read_bps" || f.name == "write_bps" }) {
		roots, _ := sel.roots(t)
		t.prefetch(sel.under(roots), []func(*table, *node){func(t *table, n *node) { t.IO(n) }})
	}
	s := t.snapshot()
	select {
	case <-ctx.Done():
	case <-time.After(c.Interval.D()):
	}
	return s, nil
}

func (c *CLI) validate() error {
	modes := 0
	for _, on := range []bool{c.Count, c.Zombies, c.Orphans} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return cli.Usagef("--count, --zombies and --orphans cannot be combined")
	}
	if c.Fields != "" && modes > 0 {
		return cli.Usagef("-o selects the columns of the process list; it does not apply to --count, --zombies or --orphans")
	}
	if c.Top < 0 {
		return cli.Usagef("--top takes a positive number, not %d", c.Top)
	}
	if c.Interval <= 0 && c.rates() && c.Watch <= 0 {
		return cli.Usagef("--interval must be positive to measure %%cpu, read_bps or write_bps")
	}
	return nil
}

// selection turns the arguments and filters into a selection.
func (c *CLI) selection(env *cli.Env) (*selection, error) {
	sel := &selection{kernel: c.Kernel, rootPIDs: c.PID, self: os.Getpid()}
	for _, pid := range c.PID {
		if pid <= 0 {
			return nil, cli.Usagef("invalid PID %d", pid)
		}
	}
	users := c.User
	targets := c.Targets
	fromStdin := false
	// "pgrep x | ptree": PIDs on a pipe or in a file stand for arguments
	// when none select anything; an empty one ("ptree </dev/null" in cron,
	// a harness's closed pipe) leaves the whole tree, where '-' says that
	// no PIDs means no match.
	if len(targets) == 0 && len(c.PID) == 0 && len(users) == 0 && cli.StdinHasData(env.Stdin) {
		pids, err := pidsFromStdin(env.Stdin)
		if err != nil {
			return nil, err
		}
		sel.rootPIDs = pids
	}
	for _, arg := range targets {
		if arg == "-" {
			pids, err := pidsFromStdin(env.Stdin)
			if err != nil {
				return nil, err
			}
			sel.rootPIDs = append(sel.rootPIDs, pids...)
			fromStdin = true
			continue
		}
		if pid, err := strconv.Atoi(arg); err == nil {
			if pid <= 0 {
				return nil, cli.Usagef("invalid PID %q", arg)
			}
			sel.rootPIDs = append(sel.rootPIDs, pid)
			continue
		}
		users = append(users, arg)
	}
	if fromStdin && len(sel.rootPIDs) == 0 {
		return nil, errNoMatch // "pgrep x | ptree -" when pgrep found nothing
	}
	if len(users) > 0 {
		sel.uids = map[int]bool{}
		for _, name := range users {
			uid, err := lookupUser(name)
			if err != nil {
				return nil, err
			}
			sel.uids[uid] = true
		}
	}
	for _, r := range strings.ReplaceAll(c.State, ",", "") {
		if r > 0x7f || !proc.KnownState(byte(r)) {
			return nil, cli.Usagef("unknown state %q in --state (see ptree --states)", r)
		}
	}
	sel.states = strings.ReplaceAll(c.State, ",", "")
	if c.Name != "" {
		re, err := regexp.Compile(c.Name)
		if err != nil {
			return nil, cli.Usagef("invalid -n pattern: %v", err)
		}
		sel.name = re
	}
	return sel, nil
}

// lookupUser resolves a user name or numeric UID; an unknown user is a
// negative answer (exit status 1), as a PID that does not exist is.
func lookupUser(name string) (int, error) {
	if uid, err := strconv.Atoi(name); err == nil && uid >= 0 {
		return uid, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return 0, cli.Exitf(cli.ExitFail, "%q is neither a PID nor a known user", name)
		}
		return 0, fmt.Errorf("look up user %q: %w", name, err)
	}
	return strconv.Atoi(u.Uid)
}

func pidsFromStdin(stdin *os.File) ([]int, error) {
	lines, err := cli.ArgsOrStdin(nil, stdin)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, line := range lines {
		for _, f := range strings.Fields(line) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid <= 0 {
				return nil, cli.Usagef("stdin: invalid PID %q", f)
			}
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// once scans the table and writes it, with rates measured since before
// (nil: none), and returns the table. strict makes a missing root PID and a
// filter that matches nothing exit status 1. In --watch, seen carries the
// previous frame's processes over, so that new ones stand out.
func (c *CLI) once(w *bufio.Writer, sel *selection, color, strict bool, seen *seenSet, before *snapshot) (*table, error) {
	t, err := scan()
	if err != nil {
		return nil, fmt.Errorf("read process table: %w", err)
	}
	t.before = before
	roots, missing := sel.roots(t)
	p := &printer{w: w, t: t, sel: sel, branches: boxBranches, color: color, long: c.Long, threads: c.Threads, stamp: c.stamp}
	if seen != nil && color {
		p.isNew = seen.update(t)
	}
	if c.ASCII {
		p.branches = asciiBranches
	}
	if reads := c.reads(sel); len(reads) > 0 {
		t.prefetch(sel.under(roots), reads)
	}
	p.order, p.values = c.order(t)
	sel.top = nil
	if c.Top > 0 {
		// ptree's own scans would rank it among the busiest on an idle machine.
		sel.top = c.top(t, keep(sel.matches(t, roots), func(n *node) bool { return n.PID != sel.self }))
	}
	matched, err := c.write(p, roots)
	if err != nil {
		return t, err
	}
	if !strict {
		return t, nil
	}
	if len(missing) > 0 {
		return t, cli.Exitf(cli.ExitFail, "no such process: %s", joinInts(missing))
	}
	if !matched {
		return t, errNoMatch
	}
	return t, nil
}

// write writes one scan in the form the flags ask for and reports whether
// anything matched.
func (c *CLI) write(p *printer, roots []*node) (bool, error) {
	matches := func(ok func(*node) bool) []*node {
		nodes := p.sel.matches(p.t, roots)
		if ok != nil {
			nodes = keep(nodes, ok)
		}
		if p.order != nil {
			slices.SortStableFunc(nodes, p.order)
		}
		return nodes
	}
	switch {
	case c.Count:
		nodes := matches(nil)
		return len(nodes) > 0, p.count(nodes, c.JSON)
	case c.Zombies:
		nodes := matches(func(n *node) bool { return n.State == 'Z' })
		return len(nodes) > 0, p.zombies(nodes, c.JSON, c.Header)
	case c.Orphans:
		nodes := matches(p.t.isOrphan)
		return len(nodes) > 0, p.orphans(nodes, c.JSON, c.Header)
	case c.JSON:
		nodes := matches(nil)
		return len(nodes) > 0, p.json(nodes, c.columns(jsonFields, jsonLongFields))
	case c.Flat || c.Fields != "":
		nodes := matches(nil)
		p.flat(nodes, c.columns(flatFields, flatLongFields), c.Header)
		return len(nodes) > 0, nil
	}
	p.tree(roots)
	return !p.sel.filtered() || len(p.sel.matches(p.t, roots)) > 0, nil
}

// sortKeys returns --sort's keys; --top without --sort ranks by -%cpu.
func (c *CLI) sortKeys() []sortKey {
	keys, _ := parseSort(string(c.Sort)) // checked by AfterApply
	if len(keys) == 0 && c.Top > 0 {
		f, _ := lookupField("%cpu")
		keys = []sortKey{{f, true}}
	}
	return keys
}

// order returns how to order processes (nil: by PID) and the fields a tree
// line shows after the state, the sort keys.
func (c *CLI) order(t *table) (func(a, b *node) int, []field) {
	keys := c.sortKeys()
	if len(keys) == 0 {
		return nil, nil
	}
	values := make([]field, len(keys))
	for i, k := range keys {
		values[i] = k.f
	}
	return func(a, b *node) int {
		for _, k := range keys {
			if r := k.compare(t, a, b); r != 0 {
				return r
			}
		}
		return 0
	}, values
}

// top returns the c.Top processes of nodes that rank first by the sort
// keys.
func (c *CLI) top(t *table, nodes []*node) map[*node]bool {
	cmp, _ := c.order(t)
	slices.SortStableFunc(nodes, cmp)
	set := map[*node]bool{}
	for _, n := range nodes[:min(c.Top, len(nodes))] {
		set[n] = true
	}
	return set
}

// rates reports whether this run shows a field measured over the interval.
func (c *CLI) rates() bool { return c.uses(func(f field) bool { return f.rate }) }

// uses reports whether a field this run shows or sorts by is one that ok
// accepts.
func (c *CLI) uses(ok func(field) bool) bool {
	for _, f := range c.used() {
		if ok(f) {
			return true
		}
	}
	return false
}

// used returns the fields this run shows or sorts by.
func (c *CLI) used() []field {
	var out []field
	for _, k := range c.sortKeys() {
		out = append(out, k.f)
	}
	switch {
	case c.Count:
	case c.Zombies || c.Orphans:
		cmd, _ := lookupField("cmd")
		out = append(out, cmd)
	case c.JSON:
		out = append(out, c.columns(jsonFields, jsonLongFields)...)
	case c.Flat || c.Fields != "":
		out = append(out, c.columns(flatFields, flatLongFields)...)
	case c.Long:
		out = append(out, mustFields([]string{"user", "cmd"})...)
	}
	return out
}

// reads returns what this run reads of every process beyond its stat
// line, so that it can be read in parallel up front.
func (c *CLI) reads(sel *selection) []func(*table, *node) {
	var out []func(*table, *node)
	if sel.uids != nil {
		out = append(out, func(t *table, n *node) { t.UID(n) })
	}
	if sel.name != nil {
		out = append(out, func(t *table, n *node) { t.Argv(n) })
	}
	seen := map[string]bool{}
	for _, f := range c.used() {
		if f.fetch != nil && !seen[f.name] {
			seen[f.name] = true
			out = append(out, f.fetch)
		}
	}
	return out
}

// columns returns the -o columns, or the default ones (long with -l).
func (c *CLI) columns(short, long []string) []field {
	if c.Fields != "" {
		cols, _ := parseFields(c.Fields) // checked by AfterApply
		return cols
	}
	if c.Long {
		return mustFields(long)
	}
	return mustFields(short)
}

// AfterApply checks -o and --sort before anything is read.
func (c *CLI) AfterApply() error {
	if c.Fields != "" {
		if _, err := parseFields(c.Fields); err != nil {
			return err
		}
	}
	_, err := parseSort(string(c.Sort))
	return err
}

// watch redraws every c.Watch until SIGINT or SIGTERM, with rates over
// the time since the last frame (the first over --interval). On a terminal
// each frame replaces the last, with processes new since the last frame in
// bold; otherwise frames follow each other, separated by an empty line, or
// with --json as JSON Lines whose "time" tells the frames apart.
func (c *CLI) watch(w *bufio.Writer, sel *selection, tty bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var before *snapshot
	if c.rates() {
		var err error
		if before, err = c.measure(ctx, sel); err != nil || ctx.Err() != nil {
			return err
		}
	}
	var frame bytes.Buffer
	fw := bufio.NewWriter(&frame)
	color := tty && !c.JSON && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	seen := &seenSet{}
	for first := true; ; first = false {
		frame.Reset()
		now := time.Now()
		switch {
		case tty && !c.JSON:
			fmt.Fprintf(fw, "\x1b[H\x1b[2JEvery %v: ptree  %s\n\n", c.Watch.D(), now.Format("15:04:05"))
		case !first && !c.JSON:
			fw.WriteByte('\n')
		}
		c.stamp = ""
		if c.JSON {
			c.stamp = now.Format(time.RFC3339Nano)
		}
		t, err := c.once(fw, sel, color, first, seen, before)
		fw.Flush()
		if _, werr := w.Write(frame.Bytes()); werr != nil {
			return werr
		}
		if werr := w.Flush(); werr != nil {
			return werr
		}
		if err != nil && !errors.Is(err, errNoMatch) {
			return err
		}
		if c.rates() {
			before = t.snapshot()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.Watch.D()):
		}
	}
}

// seenSet remembers the processes of the last --watch frame by PID and
// start time, so that a reused PID counts as new.
type seenSet struct{ last map[[2]uint64]bool }

// update records t's processes and returns a test for the ones that were
// not in the previous table (none on the first frame).
func (s *seenSet) update(t *table) func(*node) bool {
	prev := s.last
	s.last = make(map[[2]uint64]bool, len(t.nodes))
	for _, n := range t.nodes {
		s.last[[2]uint64{uint64(n.PID), n.StartTime}] = true
	}
	return func(n *node) bool {
		return prev != nil && !prev[[2]uint64{uint64(n.PID), n.StartTime}]
	}
}

func keep(nodes []*node, ok func(*node) bool) []*node {
	out := nodes[:0]
	for _, n := range nodes {
		if ok(n) {
			out = append(out, n)
		}
	}
	return out
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}
