package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

var restartSuite = Suite{
	Name:  "restart",
	About: "pspawn --restart: restart latency (a run's end to the next start, --backoff 0); supervisor memory: a plain job's, a restarting job's, per job at -n 100",
	Run:   benchRestart,
}

// restartRuns is the length of each measured crash loop.
const restartRuns = 200

func benchRestart(b *Bench) error {
	dir := b.TempDir()
	var gaps, period, shell []float64
	for trial := 0; trial < b.Runs; trial++ {
		g, p, err := crashLoop(dir, trial)
		if err != nil {
			return err
		}
		gaps = append(gaps, g...)
		period = append(period, p)
		t0 := time.Now()
		loop := fmt.Sprintf("i=0; while [ $i -lt %d ]; do /bin/false; i=$((i+1)); done", restartRuns)
		if err := exec.Command("sh", "-c", loop).Run(); err != nil {
			return err
		}
		shell = append(shell, float64(time.Since(t0).Microseconds())/1000/restartRuns)
	}
	b.Report(fmt.Sprintf("crash loop of %d runs of /bin/false, %d loops", restartRuns, b.Runs),
		Row{Name: "restart latency", Samples: gaps, Unit: "ms", Note: "a run reaped -> the next forked (times from the runs file); target: median <= 5"},
		Row{Name: "pspawn --restart always: time per run", Samples: period, Unit: "ms", Note: fmt.Sprintf("%.2fx the shell loop", Median(period)/Median(shell))},
		Row{Name: "sh while loop: time per run (anchor)", Samples: shell, Unit: "ms", Note: "fork+exec+wait only, nothing recorded"})
	singleTotal, single, err := supervisorRSS(1, b.Runs)
	if err != nil {
		return err
	}
	perJobTotal, perJob, err := supervisorRSS(100, b.Runs)
	if err != nil {
		return err
	}
	rows := []Row{
		{Name: "plain job (pspawn -- sleep)", Samples: single, Unit: "KiB", Note: "target <= 1024"},
		{Name: "per job, pspawn -n 100 (one supervisor)", Samples: perJob, Unit: "KiB/job", Note: "target <= 32"},
		{Name: "plain job, VmRSS", Samples: singleTotal, Unit: "KiB", Note: "all resident pages (binary pages are shared page cache)"},
		{Name: "per job at -n 100, VmRSS", Samples: perJobTotal, Unit: "KiB/job", Note: "all resident pages / jobs"},
	}
	byRun := make([][]float64, len(rssRuns))
	for trial := 0; trial < b.Runs; trial++ {
		kb, err := restartRSS(dir, trial)
		if err != nil {
			return err
		}
		for i := range kb {
			byRun[i] = append(byRun[i], kb[i])
		}
	}
	for i, run := range rssRuns {
		note := "a --restart job's supervisor with its first run"
		if i > 0 {
			note = fmt.Sprintf("after %d crashes: the garbage of the runs until the 4 MB minimum heap goal", run-1)
		}
		rows = append(rows, Row{Name: fmt.Sprintf("restarting, run %d", run), Samples: byRun[i], Unit: "KiB", Note: note})
	}
	b.Report("supervisor memory (RssAnon: private, the real cost; VmRSS: all resident)", rows...)
	return nil
}

// rssRuns are the runs of a crash loop at which restartRSS samples the
// supervisor.
var rssRuns = []int{1, 500, 1000}

// crashLoop runs one crash loop in its own job directory and returns
// the restart gaps (ms) and the mean time per run (ms).
func crashLoop(dir string, trial int) ([]float64, float64, error) {
	pkit := filepath.Join(dir, fmt.Sprintf("loop%d", trial))
	env := append(os.Environ(), "PKIT_DIR="+pkit)
	t0 := time.Now()
	spawn := exec.Command("pspawn", "--restart", "always", "--backoff", "0", "--max-restarts", strconv.Itoa(restartRuns-1), "--", "/bin/false")
	spawn.Env = env
	if out, err := spawn.CombinedOutput(); err != nil {
		return nil, 0, fmt.Errorf("pspawn: %v: %s", err, out)
	}
	join := exec.Command("pjoin", "--timeout", "60", "j1")
	join.Env = env
	join.Run() // exit 1: the loop stops as failed
	per := float64(time.Since(t0).Microseconds()) / 1000 / restartRuns
	f, err := os.Open(filepath.Join(pkit, "jobs", "j1.runs"))
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var gaps []float64
	var prev time.Time
	for sc := bufio.NewScanner(f); sc.Scan(); {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) != 5 {
			return nil, 0, fmt.Errorf("runs file: %q", sc.Text())
		}
		start, _ := time.Parse(time.RFC3339Nano, fs[2])
		end, _ := time.Parse(time.RFC3339Nano, fs[3])
		if !prev.IsZero() {
			gaps = append(gaps, float64(start.Sub(prev).Microseconds())/1000)
		}
		prev = end
	}
	return gaps, per, nil
}

// restartRSS returns the RssAnon (KiB) of a --restart job's supervisor
// during each run of rssRuns, the runs between having failed at once.
func restartRSS(dir string, trial int) ([]float64, error) {
	pkit := filepath.Join(dir, fmt.Sprintf("rss%d", trial))
	env := append(os.Environ(), "PKIT_DIR="+pkit)
	count := filepath.Join(pkit, "count")
	os.MkdirAll(pkit, 0o700)
	script := fmt.Sprintf(`n=0; read n < %[1]s; n=$((n + 1)); echo $n > %[1]s
case $n in 1|500|1000) exec sleep 30;; esac; exit 1`, count)
	spawn := exec.Command("pspawn", "--restart", "always", "--backoff", "0", "--", "sh", "-c", script)
	spawn.Env = env
	if out, err := spawn.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pspawn: %v: %s", err, out)
	}
	defer func() {
		stop := exec.Command("pjoin", "--terminate", "j1")
		stop.Env = env
		stop.Run()
	}()
	sample := func(run int) (float64, int, error) {
		deadline := time.Now().Add(120 * time.Second)
		for time.Now().Before(deadline) {
			var rec struct{ PGID, Supervisor, Runs int }
			b, err := os.ReadFile(filepath.Join(pkit, "jobs", "j1.json"))
			if err == nil && json.Unmarshal(b, &rec) == nil && rec.Runs == run {
				kb, err := statusKB(rec.Supervisor, "RssAnon:")
				return kb, rec.PGID, err
			}
			time.Sleep(5 * time.Millisecond)
		}
		return 0, 0, fmt.Errorf("run %d not reached in 120 s", run)
	}
	var kb []float64
	for _, run := range rssRuns {
		k, pgid, err := sample(run)
		if err != nil {
			return nil, err
		}
		kb = append(kb, k)
		exec.Command("kill", "-KILL", "--", "-"+strconv.Itoa(pgid)).Run()
	}
	return kb, nil
}

// statusKB reads a "kB" field of /proc/PID/status.
func statusKB(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// supervisorRSS starts n sleeping jobs and returns the supervisor's
// resident and private memory per job, in KiB, over the given number of
// samples.
func supervisorRSS(n, samples int) (total, private []float64, err error) {
	for range samples {
		b, err := exec.Command("pspawn", "--json", "-n", strconv.Itoa(n), "--", "sleep", "3").Output()
		if err != nil {
			return nil, nil, fmt.Errorf("pspawn -n %d: %w", n, err)
		}
		var first struct{ ID string }
		json.Unmarshal(b[:strings.IndexByte(string(b), '\n')], &first)
		rec, err := os.ReadFile(filepath.Join(os.Getenv("PKIT_DIR"), "jobs", first.ID+".json"))
		if err != nil {
			return nil, nil, err
		}
		var r struct{ Supervisor int }
		json.Unmarshal(rec, &r)
		time.Sleep(200 * time.Millisecond) // let the supervisor settle into its wait
		rss, anon, err := memOf(r.Supervisor)
		if err != nil {
			return nil, nil, err
		}
		total = append(total, rss/float64(n))
		private = append(private, anon/float64(n))
		var all []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var j struct{ ID string }
			json.Unmarshal([]byte(l), &j)
			all = append(all, j.ID)
		}
		exec.Command("pjoin", append([]string{"--kill"}, all...)...).Run()
	}
	return total, private, nil
}

// memOf reads VmRSS and RssAnon (KiB) of process pid.
func memOf(pid int) (rss, anon float64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rss, _ = strconv.ParseFloat(f[0], 64)
		case "RssAnon":
			anon, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS for %d", pid)
	}
	return rss, anon, nil
}
