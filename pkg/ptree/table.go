package ptree

import (
	"os/user"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// table is one scan of the process table, linked into a tree. Fields other
// than the stat line are read lazily and only once, so a plain tree costs one
// read of /proc/PID/stat per process.
type table struct {
	clock proc.Clock
	byPID map[int]*node
	nodes []*node // by PID
	users map[int]string

	before    *snapshot // counters at the start of the interval; nil: no rates
	memTotal  lazy[uint64]
	portIndex func() (portIndex, error) // read once, by whichever prefetch worker asks first
}

// node is one process and what has been read about it.
type node struct {
	proc.Stat
	parent   *node
	children []*node // by PID

	uid      int // -1 until read or when unreadable
	uidRead  bool
	argv     []string // nil when unreadable
	argvRead bool

	more *more // the fields a plain tree does not read; nil until one is
}

// more holds what is read of a process for the fields of the same names.
// It is allocated only when one is asked for: a plain tree of thousands of
// processes does not pay for it.
type more struct {
	io     lazy[proc.IO]
	fds    lazy[int]
	wchan  lazy[string]
	cgroup lazy[string]
	ports  lazy[[]string]
}

// extra returns n's more, allocating it. Prefetch workers each own their
// nodes, so this needs no lock.
func (n *node) extra() *more {
	if n.more == nil {
		n.more = &more{}
	}
	return n.more
}

// lazy is a value read from the system on first use, and only then.
type lazy[T any] struct {
	v    T
	ok   bool
	done bool
}

// get returns the value, reading it the first time; ok is false when it
// could not be read.
func (l *lazy[T]) get(read func() (T, error)) (v T, ok bool) {
	if !l.done {
		l.done = true
		if v, err := read(); err == nil {
			l.v, l.ok = v, true
		}
	}
	return l.v, l.ok
}

// scan reads the process table.
func scan() (*table, error) {
	stats, err := proc.All()
	if err != nil {
		return nil, err
	}
	clock, err := proc.ReadClock()
	if err != nil {
		return nil, err
	}
	return newTable(stats, clock), nil
}

// newTable links stat lines into a tree.
func newTable(stats []proc.Stat, clock proc.Clock) *table {
	t := &table{clock: clock, byPID: make(map[int]*node, len(stats)), nodes: make([]*node, len(stats)), users: map[int]string{},
		portIndex: sync.OnceValues(readPortIndex)}
	for i := range stats {
		n := &node{Stat: stats[i], uid: -1}
		t.nodes[i] = n
		t.byPID[n.PID] = n
	}
	slices.SortFunc(t.nodes, func(a, b *node) int { return a.PID - b.PID })
	// t.nodes is sorted, so every children list comes out sorted too.
	for _, n := range t.nodes {
		if p := t.byPID[n.PPID]; p != nil && p != n {
			n.parent = p
			p.children = append(p.children, n)
		}
	}
	return t
}

// roots are the processes whose parent is not in the table: PID 1, kthreadd
// (2), and anything whose parent lies outside this PID namespace.
func (t *table) roots() []*node {
	var out []*node
	for _, n := range t.nodes {
		if n.parent == nil {
			out = append(out, n)
		}
	}
	return out
}

// prefetch reads what reads asks of each of nodes with one worker per
// CPU, as the scan does: with -l or -u on a big table these reads are most
// of the run time. Each node is read by one worker only, and user names
// are still resolved later, in one goroutine.
func (t *table) prefetch(nodes []*node, reads []func(*table, *node)) {
	workers := min(runtime.NumCPU(), 4, len(nodes)/64+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(nodes); i += workers {
				for _, read := range reads {
					read(t, nodes[i])
				}
			}
		}()
	}
	wg.Wait()
}

// UID returns the effective user ID of n, or -1 when it cannot be read.
func (t *table) UID(n *node) int {
	if !n.uidRead {
		n.uidRead = true
		if uid, err := proc.UID(n.PID); err == nil {
			n.uid = uid
		}
	}
	return n.uid
}

// User returns the name of n's user, its UID when the name is unknown, or
// "-" when the process cannot be read.
func (t *table) User(n *node) string {
	uid := t.UID(n)
	if uid < 0 {
		return "-"
	}
	name, ok := t.users[uid]
	if !ok {
		name = strconv.Itoa(uid)
		if u, err := user.LookupId(name); err == nil {
			name = u.Username
		}
		t.users[uid] = name
	}
	return name
}

// Argv returns n's command line; nil when it cannot be read, empty for
// kernel threads and zombies.
func (t *table) Argv(n *node) []string {
	if !n.argvRead {
		n.argvRead = true
		n.argv, _ = proc.Cmdline(n.PID)
	}
	return n.argv
}

// Cmd returns n's command line for display: arguments joined by spaces,
// "[name]" when there are none (kernel threads, zombies) as ps(1) does, and
// "-" when it cannot be read.
func (t *table) Cmd(n *node) string {
	argv := t.Argv(n)
	switch {
	case argv == nil:
		return "-"
	case len(argv) == 0:
		return "[" + printable(n.Comm) + "]"
	}
	return printable(strings.Join(argv, " "))
}

// printable replaces control characters, which could forge lines or
// terminal escapes in the output, with '?'.
func printable(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return '?'
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
