package cmd_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRestartCrashLoop: a job that crashes at once, restarted 999 times
// with --backoff 0 (supervisord's crash loop), leaks nothing in its
// supervisor: the same open files at runs 1, 500 and 1,000, no zombie
// child, a live heap after each collection no larger than after the
// first, and no more anonymous memory at run 1,000 than at run 500
// beyond the collector's slack (the garbage of the runs grows the heap to
// the runtime's minimum goal of 4 MB before the first collection, every
// few hundred runs; from then on it is reused). It stops as failed after
// --max-restarts, every run listed. The figures and the restart latency
// (a run's end to the next one's start, from the runs file) are logged.
func TestRestartCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 runs")
	}
	bin := toolBin(t)
	dir := t.TempDir()
	env := append(os.Environ(), "PKIT_DIR="+filepath.Join(dir, ".pkit"), "PATH="+bin+":"+os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0")
	script := `n=$(( $(cat c 2>/dev/null || echo 0) + 1 )); echo $n > c
case $n in 1|500|1000) : > at.$n; exec sleep 30;; esac
exit 1`
	// The supervisor writes to pspawn's standard error when that is a
	// file: there, the collector's trace of each cycle.
	trace, err := os.Create(filepath.Join(dir, "gctrace"))
	if err != nil {
		t.Fatal(err)
	}
	defer trace.Close()
	cmd := exec.Command(filepath.Join(bin, "pspawn"), "--restart", "always", "--backoff", "0", "--max-restarts", "999", "--", "sh", "-c", script)
	cmd.Dir, cmd.Env, cmd.Stderr = dir, append(env, "GODEBUG=gctrace=1"), trace
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("pspawn: %v: %s", err, out)
	}
	type sample struct{ fds, rssAnon, zombies int }
	// at waits for run n to hold, samples its supervisor and kills the run.
	at := func(n int) sample {
		deadline := time.Now().Add(60 * time.Second)
		var rec struct{ PID, PGID, Supervisor, Runs int }
		for {
			_, err := os.Stat(filepath.Join(dir, "at."+strconv.Itoa(n)))
			if b, rerr := os.ReadFile(filepath.Join(dir, ".pkit", "jobs", "j1.json")); err == nil && rerr == nil {
				if json.Unmarshal(b, &rec) == nil && rec.Runs == n {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d not reached after 60 s (record: %+v)", n, rec)
			}
			time.Sleep(5 * time.Millisecond)
		}
		s := sample{fds: countFDs(t, rec.Supervisor), rssAnon: rssAnon(t, rec.Supervisor), zombies: zombieChildren(rec.Supervisor)}
		t.Logf("run %d: supervisor %d: %d fds, RssAnon %d kB, %d zombie children", n, rec.Supervisor, s.fds, s.rssAnon, s.zombies)
		syscall.Kill(-rec.PGID, syscall.SIGKILL)
		return s
	}
	first := at(1)
	early := at(500)
	late := at(1000)
	pjoin := exec.Command(filepath.Join(bin, "pjoin"), "--timeout", "30", "j1")
	pjoin.Dir, pjoin.Env = dir, env
	out, err := pjoin.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.HasSuffix(string(out), "\tj1\t-9\n") {
		t.Errorf("pjoin j1: %q, %v: want the last run's -9 and exit 1", out, err)
	}
	status := exec.Command(filepath.Join(bin, "pjoin"), "--status", "j1")
	status.Dir, status.Env = dir, env
	if out, _ := status.Output(); !strings.Contains(string(out), "\tfailed\t-9\t") || !strings.HasSuffix(string(out), "\t1000\n") {
		t.Errorf("pjoin --status j1: %q: want failed, -9, 1000 runs", out)
	}
	if first.fds != late.fds || early.fds != late.fds || first.zombies+early.zombies+late.zombies != 0 {
		t.Errorf("supervisor fds %d, %d, %d at runs 1, 500, 1000; zombie children %d, %d, %d",
			first.fds, early.fds, late.fds, first.zombies, early.zombies, late.zombies)
	}
	// Slack for the collector: run 500 may come before the heap has first
	// grown to the runtime's minimum goal of 4 MB, run 1000 after (without
	// GOGC, which the supervisor does not steer). A leak of a record per
	// run shows in the live heap below. The race detector's shadow memory
	// grows with what the heap has touched: it gets twice that.
	slack := 4096
	if raceEnabled {
		slack = 8192
	}
	if late.rssAnon > early.rssAnon+slack {
		t.Errorf("supervisor RssAnon grew from %d kB at run 500 to %d kB at run 1000", early.rssAnon, late.rssAnon)
	}
	live := liveHeaps(t, trace.Name())
	t.Logf("collections: %d, live heap after each (MB): %v", len(live), live)
	if len(live) > 1 && live[len(live)-1] > live[0]+1 {
		t.Errorf("supervisor's live heap grew from %d MB after the first collection to %d MB after the last", live[0], live[len(live)-1])
	}
	gaps := runGaps(t, filepath.Join(dir, ".pkit", "jobs", "j1.runs"), 1000)
	slices.Sort(gaps)
	t.Logf("restart latency (end of a run to the start of the next, %d restarts): median %v, p90 %v, max %v",
		len(gaps), gaps[len(gaps)/2], gaps[len(gaps)*9/10], gaps[len(gaps)-1])
}

// liveHeaps reads a GODEBUG=gctrace=1 trace and returns the live heap
// (MB) after each collection: C in its "A->B->C MB".
func liveHeaps(t *testing.T, path string) []int {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var live []int
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "gc ") {
			continue
		}
		for _, f := range strings.Split(l, ", ") {
			if heap, ok := strings.CutSuffix(f, " MB"); ok && strings.Contains(heap, "->") {
				n, err := strconv.Atoi(heap[strings.LastIndex(heap, ">")+1:])
				if err != nil {
					t.Fatalf("gctrace: %q", l)
				}
				live = append(live, n)
			}
		}
	}
	return live
}

// runGaps reads a runs file of want runs and returns the gaps between the
// end of each run and the start of the next.
func runGaps(t *testing.T, path string, want int) []time.Duration {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var gaps []time.Duration
	var prev time.Time
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		fs := strings.Split(sc.Text(), "\t")
		n++
		if len(fs) != 5 || fs[0] != strconv.Itoa(n) {
			t.Fatalf("runs file line %d: %q", n, sc.Text())
		}
		start, err1 := time.Parse(time.RFC3339Nano, fs[2])
		end, err2 := time.Parse(time.RFC3339Nano, fs[3])
		if err1 != nil || err2 != nil {
			t.Fatalf("runs file line %d: %q: %v %v", n, sc.Text(), err1, err2)
		}
		if !prev.IsZero() {
			gaps = append(gaps, start.Sub(prev))
		}
		prev = end
	}
	if n != want {
		t.Fatalf("runs file lists %d runs, want %d", n, want)
	}
	return gaps
}

func countFDs(t *testing.T, pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func rssAnon(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	t.Fatalf("no RssAnon for %d", pid)
	return 0
}

// zombieChildren counts the zombies whose parent is pid.
func zombieChildren(pid int) int {
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(pid) {
			n++
		}
	}
	return n
}
