package cmd_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// lifeTrial is one kind of kill trial (pkg/lifetime's guarantees): a tool
// is started with work to do, then sent a signal at a random instant; after
// it ends, no process it started may be alive within its grace period plus
// one second, and check may test more (no lock held twice, no item run
// twice at once, no partial input).
type lifeTrial struct {
	tool  string                             // the binary: a name in tools
	args  func(dir string) []string          // its arguments; dir is the trial's own directory
	setup func(t *testing.T, dir string)     // before the tool starts (optional)
	stdin string                             // the tool's standard input (optional)
	grace time.Duration                      // the tool's grace between TERM and KILL, as set in args
	delay time.Duration                      // the signal comes at a random instant in [0, delay)
	sigs  []syscall.Signal                   // the signals to draw from; default KILL, TERM, HUP, INT
	check func(t *testing.T, dir string) any // after the trial; a non-nil result is a violation (optional)
	// target, if set, returns the PID to signal instead of the tool's (a
	// process the tool started, such as pspawn's supervisor); it may wait
	// for it to appear. The random delay counts from its return.
	target func(t *testing.T, dir string) int
}

// trialCount is how many trials each kind runs: PKIT_TRIALS, else a short
// run that fits in CI (the 50 run with PKIT_TRIALS=50).
func trialCount() int {
	if n, err := strconv.Atoi(os.Getenv("PKIT_TRIALS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 2
	}
	return 8
}

// trialSeed is PKIT_TRIAL_SEED, to replay a failed run, else a new seed.
// It is logged either way.
func trialSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("PKIT_TRIAL_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (replay with PKIT_TRIAL_SEED=%d)", seed, seed)
	return seed
}

// runLifeTrials runs trialCount trials of tr, each in a directory of its
// own with a private PKIT_DIR.
func runLifeTrials(t *testing.T, tr lifeTrial) {
	t.Helper()
	rng := rand.New(rand.NewPCG(trialSeed(t), 0))
	bin := toolBin(t)
	sigs := tr.sigs
	if len(sigs) == 0 {
		sigs = []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT}
	}
	for i := range trialCount() {
		sig := sigs[rng.IntN(len(sigs))]
		delay := time.Duration(rng.Int64N(int64(tr.delay) + 1))
		t.Run(fmt.Sprintf("%d-%s-%v", i, sigName(sig), delay.Round(time.Millisecond)), func(t *testing.T) {
			lifeTrialOnce(t, tr, bin, sig, delay)
		})
	}
}

func sigName(sig syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGKILL: "KILL", syscall.SIGTERM: "TERM", syscall.SIGHUP: "HUP", syscall.SIGINT: "INT"}[sig]
}

func lifeTrialOnce(t *testing.T, tr lifeTrial, bin string, sig syscall.Signal, delay time.Duration) {
	dir := t.TempDir()
	if tr.setup != nil {
		tr.setup(t, dir)
	}
	// Every process of the trial inherits the mark, however deep it is.
	mark := fmt.Sprintf("PKIT_TRIAL_MARK=%d-%d", os.Getpid(), time.Now().UnixNano())
	cmd := exec.Command(filepath.Join(bin, tr.tool), tr.args(dir)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), mark, "PKIT_DIR="+filepath.Join(dir, ".pkit"),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GORACE=atexit_sleep_ms=0", "NO_COLOR=1")
	cmd.Stdin = strings.NewReader(tr.stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A group of its own, as a shell gives a background job, so that the
	// signal reaches the tool alone and the cleanup below can reach all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killMarked(mark) })
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	if tr.target != nil {
		pid := tr.target(t, dir)
		time.Sleep(delay)
		syscall.Kill(pid, sig)
	} else {
		time.Sleep(delay)
		cmd.Process.Signal(sig)
	}
	select {
	case <-ended:
	case <-time.After(tr.grace + 30*time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s did not end within %v of %v; output:\n%s", tr.tool, tr.grace+30*time.Second, sig, out.String())
	}
	deadline := time.Now().Add(tr.grace + time.Second)
	for {
		left := marked(mark)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after %s got %v: still alive: %s\noutput:\n%s", tr.grace+time.Second, tr.tool, sig, strings.Join(left, "; "), out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if tr.check != nil {
		if v := tr.check(t, dir); v != nil {
			t.Fatalf("after %v: %v\noutput:\n%s", sig, v, out.String())
		}
	}
}

// marked lists the live processes whose environment holds mark, as
// "PID comm" (zombies are not alive: their environment is gone).
func marked(mark string) []string {
	stats, err := proc.All()
	if err != nil {
		return []string{err.Error()}
	}
	var left []string
	for _, st := range stats {
		if st.State == 'Z' || st.State == 'X' {
			continue
		}
		env, err := os.ReadFile("/proc/" + strconv.Itoa(st.PID) + "/environ")
		if err == nil && bytes.Contains(append(env, 0), []byte(mark+"\x00")) {
			left = append(left, fmt.Sprintf("%d %s (pgid %d)", st.PID, st.Comm, st.PGRP))
		}
	}
	return left
}

// killMarked kills whatever a failed trial left behind.
func killMarked(mark string) {
	for _, p := range marked(mark) {
		if pid, err := strconv.Atoi(strings.Fields(p)[0]); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// holdScript is a critical section for the overlap detector: it appends
// "KEY PID start|tick|end NANOSECONDS" lines to the file events while it
// runs, a tick every 10 ms for about n ticks. With linger, the section
// goes on for 10 more ticks when it is told to stop (TERM, INT, HUP), as a
// command that cleans up does: its group outlives a tool that is killed.
func holdScript(events, key string, n int, linger bool) string {
	stamp := func(what string) string {
		return fmt.Sprintf(`echo "%s $$ %s $(date +%%s%%N)" >> %s`, key, what, events)
	}
	trap := ""
	if linger {
		trap = fmt.Sprintf(`trap 'j=0; while [ $j -lt 10 ]; do %s; sleep 0.01; j=$((j+1)); done; %s; exit 0' TERM INT HUP; `,
			strings.ReplaceAll(stamp("tick"), "'", `'\''`), stamp("end"))
	}
	return fmt.Sprintf(`%s%s; i=0; while [ $i -lt %d ]; do %s; sleep 0.01; i=$((i+1)); done; %s`,
		trap, stamp("start"), n, stamp("tick"), stamp("end"))
}

// overlaps reads an events file written by holdScript and returns a
// description of the first instant at which two holders of one key were
// inside, or nil. A holder killed in its section has no end line: its
// last tick bounds it, 10 ms after which it may have lived on.
func overlaps(events string) any { return overlapsN(events, 1) }

// overlapsN is overlaps for a semaphore of n slots: the first instant at
// which more than n holders of one key were inside, or nil.
func overlapsN(events string, n int) any {
	b, err := os.ReadFile(events)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	type span struct{ start, end int64 }
	spans := map[string]map[string]*span{} // key -> pid -> span
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			continue
		}
		ns, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			continue
		}
		if spans[f[0]] == nil {
			spans[f[0]] = map[string]*span{}
		}
		if s := spans[f[0]][f[1]]; s == nil {
			spans[f[0]][f[1]] = &span{ns, ns}
		} else {
			s.start, s.end = min(s.start, ns), max(s.end, ns)
		}
	}
	// An edge is a holder entering or leaving. At one instant, leaving
	// comes before entering, so that spans that only touch do not
	// overlap; but a holder killed right after its start line has a span
	// of one instant, whose leaving must come after its own entering.
	type edge struct {
		at   int64
		rank int // 0 leaves a span begun earlier, 1 enters, 2 leaves a one-instant span
		pid  string
	}
	for key, byPID := range spans {
		var edges []edge
		for pid, s := range byPID {
			leave := 0
			if s.end == s.start {
				leave = 2
			}
			edges = append(edges, edge{s.start, 1, pid}, edge{s.end, leave, pid})
		}
		sort.Slice(edges, func(i, j int) bool {
			if edges[i].at != edges[j].at {
				return edges[i].at < edges[j].at
			}
			return edges[i].rank < edges[j].rank
		})
		inside := map[string]bool{}
		for _, e := range edges {
			if e.rank != 1 {
				delete(inside, e.pid)
				continue
			}
			inside[e.pid] = true
			if len(inside) > n {
				pids := make([]string, 0, len(inside))
				for p := range inside {
					pids = append(pids, p)
				}
				sort.Strings(pids)
				var mine []string // the key's events, to see how it happened
				for _, line := range strings.Split(string(b), "\n") {
					if strings.HasPrefix(line, key+" ") {
						mine = append(mine, line)
					}
				}
				return fmt.Sprintf("%s held by %d pids at once at %d (at most %d allowed): %s\n%s", key, len(inside), e.at, n, strings.Join(pids, " "), strings.Join(mine, "\n"))
			}
		}
	}
	return nil
}

// TestOverlaps checks the detector itself on made-up events.
func TestOverlaps(t *testing.T) {
	for _, tc := range []struct {
		name, events string
		n            int
		overlap      bool
	}{
		{"one after another", "k 1 start 10\nk 1 end 20\nk 2 start 20\nk 2 end 30", 1, false},
		{"killed after its start line", "k 1 start 10\nk 2 start 15\nk 2 end 30", 1, false},
		{"two inside", "k 1 start 10\nk 1 tick 25\nk 2 start 20\nk 2 end 30", 1, true},
		{"other keys do not count", "a 1 start 10\na 1 end 30\nb 2 start 20\nb 2 end 40", 1, false},
		{"two slots", "k 1 start 10\nk 1 end 30\nk 2 start 20\nk 2 end 40", 2, false},
		{"three in two slots", "k 1 start 10\nk 1 end 30\nk 2 start 20\nk 2 end 40\nk 3 start 25\nk 3 end 50", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "events")
			if err := os.WriteFile(f, []byte(tc.events+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := overlapsN(f, tc.n); (got != nil) != tc.overlap {
				t.Errorf("overlapsN = %v, want overlap %v", got, tc.overlap)
			}
		})
	}
}
