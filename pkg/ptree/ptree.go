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

	ASCII   bool         `name:"ascii" short:"A" help:"Draw branches with ASCII characters instead of box drawing."`
	Kernel  bool         `short:"k" help:"Also show kernel threads (the tree under kthreadd, PID 2)."`
	Threads bool         `short:"T" help:"Show each process's threads as {name}(tid) before its children."`
	Long    bool         `short:"l" help:"Add user, RSS, CPU%, start time and the full command line."`
	States  bool         `help:"Print the meaning of the state letters and modifiers, and exit."`
	State   string       `placeholder:"LETTERS" help:"Only processes in these states, e.g. Z,D or ZD (with their ancestors unless --flat)."`
	User    []string     `short:"u" placeholder:"USER" sep:"," help:"Only processes of these users (names or UIDs; repeatable, comma-separated)."`
	Name    string       `short:"n" placeholder:"REGEXP" help:"Only processes whose name or command line matches REGEXP."`
	PID     []int        `short:"p" name:"pid" placeholder:"PID" sep:"," help:"Only the subtree of PID (repeatable, comma-separated)."`
	Flat    bool         `short:"f" help:"Only the matching processes, one a line, no tree."`
	Fields  string       `short:"o" placeholder:"FIELDS" help:"Flat output with these comma-separated columns (pid,ppid,state,stat,name,user,rss,cpu,start,cmd,...)."`
	Header  bool         `short:"H" help:"Print a header line above flat, --zombies and --orphans output."`
	JSON    bool         `help:"One JSON object per process (JSON Lines), with its children's PIDs."`
	Count   bool         `short:"c" help:"Print how many processes are in each state."`
	Zombies bool         `short:"z" help:"List zombies: pid, ppid, parent name, how long dead, exit status, and who must reap them."`
	Orphans bool         `help:"List orphans: processes adopted by PID 1 or a subreaper after their session leader exited."`
	Watch   cli.Duration `short:"w" placeholder:"DUR" help:"Redraw every DUR (e.g. 1, 500ms) until interrupted."`
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
	return c.once(w, sel, cli.Color(out), true, nil)
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

// once scans the table and writes it. strict makes a missing root PID and a
// filter that matches nothing exit status 1. In --watch, seen carries the
// previous frame's processes over, so that new ones stand out.
func (c *CLI) once(w *bufio.Writer, sel *selection, color, strict bool, seen *seenSet) error {
	t, err := scan()
	if err != nil {
		return fmt.Errorf("read process table: %w", err)
	}
	roots, missing := sel.roots(t)
	p := &printer{w: w, t: t, sel: sel, branches: boxBranches, color: color, long: c.Long, threads: c.Threads}
	if seen != nil && color {
		p.isNew = seen.update(t)
	}
	if c.ASCII {
		p.branches = asciiBranches
	}
	if uids, argvs := c.reads(sel); uids || argvs {
		t.prefetch(sel.under(roots), uids, argvs)
	}
	matched, err := c.write(p, roots)
	if err != nil {
		return err
	}
	if !strict {
		return nil
	}
	if len(missing) > 0 {
		return cli.Exitf(cli.ExitFail, "no such process: %s", joinInts(missing))
	}
	if !matched {
		return errNoMatch
	}
	return nil
}

// write writes one scan in the form the flags ask for and reports whether
// anything matched.
func (c *CLI) write(p *printer, roots []*node) (bool, error) {
	switch {
	case c.Count:
		nodes := p.sel.matches(p.t, roots)
		return len(nodes) > 0, p.count(nodes, c.JSON)
	case c.Zombies:
		nodes := keep(p.sel.matches(p.t, roots), func(n *node) bool { return n.State == 'Z' })
		return len(nodes) > 0, p.zombies(nodes, c.JSON, c.Header)
	case c.Orphans:
		nodes := keep(p.sel.matches(p.t, roots), p.t.isOrphan)
		return len(nodes) > 0, p.orphans(nodes, c.JSON, c.Header)
	case c.JSON:
		nodes := p.sel.matches(p.t, roots)
		return len(nodes) > 0, p.json(nodes, c.columns(jsonFields, jsonLongFields))
	case c.Flat || c.Fields != "":
		nodes := p.sel.matches(p.t, roots)
		p.flat(nodes, c.columns(flatFields, flatLongFields), c.Header)
		return len(nodes) > 0, nil
	}
	p.tree(roots)
	return !p.sel.filtered() || len(p.sel.matches(p.t, roots)) > 0, nil
}

// reads reports whether this run needs every process's user and command
// line, so that they can be read in parallel up front.
func (c *CLI) reads(sel *selection) (uids, argvs bool) {
	uids, argvs = sel.uids != nil, sel.name != nil
	if c.Count || c.Zombies || c.Orphans {
		return uids, argvs
	}
	if c.Long && c.Fields == "" {
		return true, true
	}
	for _, f := range strings.Split(c.Fields, ",") {
		switch strings.TrimSpace(f) {
		case "user", "uid":
			uids = true
		case "cmd", "argv":
			argvs = true
		}
	}
	return uids, argvs
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

// AfterApply checks -o before anything is read.
func (c *CLI) AfterApply() error {
	if c.Fields == "" {
		return nil
	}
	_, err := parseFields(c.Fields)
	return err
}

// watch redraws every c.Watch until SIGINT or SIGTERM. On a terminal each
// frame replaces the last, with processes new since the last frame in
// bold; otherwise frames follow each other, separated by an empty line.
func (c *CLI) watch(w *bufio.Writer, sel *selection, tty bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var frame bytes.Buffer
	fw := bufio.NewWriter(&frame)
	color := tty && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	seen := &seenSet{}
	for first := true; ; first = false {
		frame.Reset()
		if tty {
			fmt.Fprintf(fw, "\x1b[H\x1b[2JEvery %v: ptree  %s\n\n", c.Watch.D(), time.Now().Format("15:04:05"))
		} else if !first {
			fw.WriteByte('\n')
		}
		err := c.once(fw, sel, color, first, seen)
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
