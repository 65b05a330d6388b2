package ptree

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/proc"
)

// sample is a small process table: init, a shell session with a zombie,
// an orphan whose session leader (300) is gone, and kernel threads.
func sample() *table {
	st := func(pid, ppid, sid int, state byte, comm string) proc.Stat {
		return proc.Stat{PID: pid, PPID: ppid, PGRP: pid, Session: sid, TPGID: -1, State: state, Comm: comm, NumThreads: 1, StartTime: 100}
	}
	stats := []proc.Stat{
		st(1, 0, 1, 'S', "init"),
		st(2, 0, 0, 'S', "kthreadd"),
		st(3, 2, 0, 'I', "kworker/0:0"),
		st(100, 1, 100, 'S', "bash"),
		st(120, 100, 100, 'S', "make"),
		st(121, 120, 100, 'Z', "cc"),
		st(130, 100, 100, 'D', "cp"),
		st(301, 1, 300, 'S', "sleep"),
		st(400, 1, 400, 'S', "sshd"),
	}
	stats[6].HasExit, stats[6].ExitCode = true, 256 // never read: not a zombie
	stats[5].HasExit, stats[5].ExitCode = true, 9   // killed by SIGKILL
	return newTable(stats, proc.Clock{Now: time.Unix(1000, 0), Boot: time.Unix(0, 0), Uptime: 1000 * time.Second, Hz: 100})
}

func render(t *testing.T, tab *table, sel *selection, ascii bool) string {
	t.Helper()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	p := &printer{w: w, t: tab, sel: sel, branches: boxBranches}
	if ascii {
		p.branches = asciiBranches
	}
	roots, _ := sel.roots(tab)
	p.tree(roots)
	w.Flush()
	return buf.String()
}

func TestTree(t *testing.T) {
	got := render(t, sample(), &selection{}, false)
	want := `init(1) Ss
├─bash(100) Ss
│ ├─make(120) S
│ │ └─cc(121) Z
│ └─cp(130) D
├─sleep(301) S
└─sshd(400) Ss
`
	if got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
	got = render(t, sample(), &selection{kernel: true}, true)
	if !strings.HasSuffix(got, "kthreadd(2) S\n`-kworker/0:0(3) I\n") || !strings.Contains(got, "| |-make(120) S\n| | `-cc(121) Z\n") {
		t.Errorf("ASCII tree with kernel threads:\n%s", got)
	}
	got = render(t, sample(), &selection{rootPIDs: []int{2}}, false)
	if got != "kthreadd(2) S\n└─kworker/0:0(3) I\n" {
		t.Errorf("tree rooted at kthreadd:\n%s", got)
	}
}

func TestFilterKeepsAncestorPath(t *testing.T) {
	got := render(t, sample(), &selection{states: "ZD"}, false)
	want := `init(1) Ss
└─bash(100) Ss
  ├─make(120) S
  │ └─cc(121) Z
  └─cp(130) D
`
	if got != want {
		t.Errorf("--state ZD:\n%s\nwant:\n%s", got, want)
	}
	sel := &selection{name: regexp.MustCompile("^s")}
	if got := render(t, sample(), sel, false); got != "init(1) Ss\n├─sleep(301) S\n└─sshd(400) Ss\n" {
		t.Errorf("-n ^s:\n%s", got)
	}
	tab := sample()
	var names []string
	for _, n := range sel.matches(tab, []*node{tab.byPID[1]}) {
		names = append(names, n.Comm)
	}
	if strings.Join(names, " ") != "sleep sshd" {
		t.Errorf("flat matches = %v", names)
	}
}

func TestOrphanHeuristic(t *testing.T) {
	tab := sample()
	var orphans []int
	for _, n := range tab.nodes {
		if tab.isOrphan(n) {
			orphans = append(orphans, n.PID)
		}
	}
	if len(orphans) != 1 || orphans[0] != 301 {
		t.Errorf("orphans = %v, want [301] (leader 300 gone, adopted by init)", orphans)
	}
}

func TestZombieLines(t *testing.T) {
	tab := sample()
	var buf bytes.Buffer
	p := &printer{w: bufio.NewWriter(&buf), t: tab, sel: &selection{}}
	if err := p.zombies([]*node{tab.byPID[121]}, false, true); err != nil {
		t.Fatal(err)
	}
	p.w.Flush()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || lines[0] != "PID\tPPID\tPARENT\tZOMBIE_FOR\tNAME\tSTATUS\tHINT" {
		t.Fatalf("got %q", lines)
	}
	f := strings.Split(lines[1], "\t")
	// PID 121 is no zombie on this machine, so its time dead is the bound.
	if f[0] != "121" || f[1] != "120" || f[2] != "make" || !strings.HasPrefix(f[3], "<=") || f[4] != "cc" || f[5] != "signal=KILL" || !strings.HasPrefix(f[6], "make(120) must wait(2)") {
		t.Errorf("zombie line %q", f)
	}
}

func TestExitText(t *testing.T) {
	for _, tt := range []struct {
		s    proc.Stat
		want string
	}{
		{proc.Stat{HasExit: true, ExitCode: 0}, "exit=0"},
		{proc.Stat{HasExit: true, ExitCode: 3 << 8}, "exit=3"},
		{proc.Stat{HasExit: true, ExitCode: 15}, "signal=TERM"},
		{proc.Stat{HasExit: true, ExitCode: 11 | 0x80}, "signal=SEGV+core"},
		{proc.Stat{}, "-"},
	} {
		if got := exitText(tt.s); got != tt.want {
			t.Errorf("exitText(%#x) = %q, want %q", tt.s.ExitCode, got, tt.want)
		}
	}
}

func TestFormatting(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond: "850ms", 4200 * time.Millisecond: "4.2s", 184 * time.Second: "3m04s",
		2*time.Hour + 5*time.Minute: "2h05m", 76 * time.Hour: "3d04h",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for kib, want := range map[int64]string{812: "812K", 4198: "4.1M", 3 << 20: "3.0G"} {
		if got := humanKiB(kib); got != want {
			t.Errorf("humanKiB(%d) = %q, want %q", kib, got, want)
		}
	}
	if got := printable("a\nb\x1b[31m"); got != "a?b?[31m" {
		t.Errorf("printable = %q", got)
	}
}

func TestParseFields(t *testing.T) {
	cols, err := parseFields("pid, state,cmd")
	if err != nil || len(cols) != 3 || cols[1].name != "state" {
		t.Errorf("parseFields = %v, %v", cols, err)
	}
	if _, err := parseFields("pid,nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown field: %v", err)
	}
}

// run runs ptree in this process on the live table.
func run(t *testing.T, c *CLI) (string, int) {
	t.Helper()
	var out, errs bytes.Buffer
	env := &cli.Env{Name: "ptree", Stdout: &out, Stderr: &errs} // no stdin: PIDs come from arguments only
	code := cli.Report(env, c.Run(env))
	if errs.Len() > 0 {
		t.Logf("stderr: %s", errs.String())
	}
	return out.String(), code
}

func TestJSONLinesParse(t *testing.T) {
	for _, c := range []*CLI{{JSON: true}, {JSON: true, Long: true, Kernel: true}, {JSON: true, Count: true}, {JSON: true, Orphans: true}} {
		out, code := run(t, c)
		if code > 1 {
			t.Fatalf("%+v: exit %d", c, code)
		}
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if line == "" && code == 1 {
				continue
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("%+v: line %q: %v", c, line, err)
			}
		}
	}
	out, _ := run(t, &CLI{JSON: true, PID: []int{os.Getpid()}, Long: true})
	var self struct {
		PID      int      `json:"pid"`
		PPID     int      `json:"ppid"`
		State    string   `json:"state"`
		Argv     []string `json:"argv"`
		Children []int    `json:"children"`
		UID      *int     `json:"uid"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &self); err != nil {
		t.Fatal(err)
	}
	if self.PID != os.Getpid() || self.PPID != os.Getppid() || !strings.Contains("RS", self.State) || len(self.Argv) != len(os.Args) || self.UID == nil || *self.UID != os.Geteuid() {
		t.Errorf("own JSON object: %+v", self)
	}
}

func TestMissingPID(t *testing.T) {
	out, code := run(t, &CLI{Targets: []string{"1", "999999999"}})
	if code != cli.ExitFail || !strings.Contains(out, "(1) ") {
		t.Errorf("exit %d, output %q", code, out)
	}
}

// TestGoneProcessFields: fields read after the scan, of a process that has
// exited since, show as "-" (null in JSON), not as an error.
func TestGoneProcessFields(t *testing.T) {
	tab := newTable([]proc.Stat{{PID: 999999999, PPID: 0, State: 'S', Comm: "gone", NumThreads: 1}}, proc.Clock{Hz: 100})
	n := tab.byPID[999999999]
	if tab.User(n) != "-" || tab.Cmd(n) != "-" || tab.UID(n) != -1 {
		t.Errorf("user %q cmd %q uid %d", tab.User(n), tab.Cmd(n), tab.UID(n))
	}
	for _, name := range []string{"user", "uid", "cmd", "argv"} {
		f, _ := lookupField(name)
		if v := f.json(tab, n); v != nil {
			t.Errorf("JSON %s = %#v, want null", name, v)
		}
	}
}
