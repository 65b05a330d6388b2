package ptree

import (
	"bufio"
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// TestCPUNow: %cpu is the CPU time used between two scans over the time
// between them; a process started in between counts from its start.
func TestCPUNow(t *testing.T) {
	clock := proc.Clock{Now: time.Unix(1000, 0), Boot: time.Unix(0, 0), Uptime: 1000 * time.Second, Hz: 100}
	st := func(pid int, start, ticks uint64) proc.Stat {
		return proc.Stat{PID: pid, PPID: 1, State: 'R', Comm: "x", NumThreads: 1, StartTime: start, UTime: ticks}
	}
	before := newTable([]proc.Stat{st(1, 1, 0), st(10, 5, 1000), st(11, 6, 50)}, clock).snapshot()
	clock.Now, clock.Uptime = clock.Now.Add(2*time.Second), clock.Uptime+2*time.Second
	// 10 used 1.5 s of 2; 11 is a new process with the old PID (other start
	// time); 12 started 0.5 s ago and used 0.25 s.
	now := newTable([]proc.Stat{st(1, 1, 0), st(10, 5, 1150), st(11, 100_100, 10), st(12, 100_150, 25)}, clock)
	now.before = before
	for pid, want := range map[int]float64{1: 0, 10: 75, 11: 10.0 / 100 / 1 * 100, 12: 50} {
		got, ok := now.CPUNow(now.byPID[pid])
		if !ok || got < want-0.01 || got > want+0.01 {
			t.Errorf("pid %d: %%cpu %.2f (%v), want %.2f", pid, got, ok, want)
		}
	}
	now.before = nil
	if _, ok := now.CPUNow(now.byPID[10]); ok {
		t.Errorf("a %%cpu without an interval")
	}
}

// TestSortAndTop: --sort orders numerically, descending with '-', unknown
// values last; --top keeps the first N with their ancestors.
func TestSortAndTop(t *testing.T) {
	tab := sample()
	for i, n := range tab.nodes {
		n.RSS = int64(i % 3)
	}
	keys, err := parseSort("-rss,pid")
	if err != nil {
		t.Fatal(err)
	}
	c := &CLI{Sort: "-rss,pid"}
	order, values := c.order(tab)
	if len(values) != 2 || values[0].name != "rss" {
		t.Fatalf("values %v", values)
	}
	nodes := append([]*node(nil), tab.nodes...)
	slices.SortStableFunc(nodes, order)
	var got []string
	for _, n := range nodes {
		got = append(got, strconv.Itoa(n.PID)+":"+strconv.Itoa(int(n.RSS)))
	}
	if want := "3:2 121:2 400:2 2:1 120:1 301:1 1:0 100:0 130:0"; strings.Join(got, " ") != want {
		t.Errorf("--sort -rss,pid: %s, want %s", strings.Join(got, " "), want)
	}
	if !keys[0].desc || keys[1].desc {
		t.Errorf("keys %+v", keys)
	}
	for _, bad := range []string{"bogus", "-", "pid,,rss"} {
		if _, err := parseSort(bad); err == nil {
			t.Errorf("--sort %q accepted", bad)
		}
	}

	top := &CLI{Top: 2, Sort: "-rss"}
	sel := &selection{}
	roots, _ := sel.roots(tab)
	sel.top = top.top(tab, sel.matches(tab, roots))
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	p := &printer{w: w, t: tab, sel: sel, branches: asciiBranches}
	p.order, p.values = top.order(tab)
	p.tree(roots)
	w.Flush()
	kib := func(pages int) string { return strconv.Itoa(pages * int(pageKiB)) }
	want := "init(1) Ss rss=0\n|-sshd(400) Ss rss=" + kib(2) + "\n`-bash(100) Ss rss=0\n  `-make(120) S rss=" + kib(1) + "\n    `-cc(121) Z rss=" + kib(2) + "\n"
	if buf.String() != want {
		t.Errorf("--top 2 --sort -rss:\n%s\nwant:\n%s", buf.String(), want)
	}
}
