package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Suite is one tool's benchmark.
type Suite struct {
	Name  string // the tool, e.g. "ptree"
	About string // what is measured, one line
	Run   func(b *Bench) error
}

// Case is one command measured by Compare. Shell is run with sh -c.
type Case struct {
	Name  string
	Shell string
	Needs []string // executables that must be on PATH, else the case is skipped
	Base  bool     // ratios are relative to this case (default: the first one run)
	Runs  int      // if > 0: at most this many timed runs and no warm-up (slow anchors)
}

// Row is one line of a custom measurement printed by Report.
type Row struct {
	Name    string
	Samples []float64 // the median is reported
	Unit    string
	Note    string
}

// Bench holds the built pkit binaries (first on PATH) and a scratch dir.
type Bench struct {
	Runs    int
	BinDir  string
	scratch string
}

func newBench(runs int) (*Bench, error) {
	scratch, err := os.MkdirTemp("", "pkit-bench-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(scratch, "bin")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin+"/", "./cmd/...")
	// Static binaries: no dynamic loader at each start.
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(scratch)
		return nil, fmt.Errorf("build pkit: %w", err)
	}
	os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	os.Setenv("PKIT_DIR", filepath.Join(scratch, "pkit"))
	return &Bench{Runs: runs, BinDir: bin, scratch: scratch}, nil
}

func (b *Bench) close() { os.RemoveAll(b.scratch) }

// TempDir returns a fresh directory under the bench's scratch space.
func (b *Bench) TempDir() string {
	d, err := os.MkdirTemp(b.scratch, "t-")
	if err != nil {
		panic(err) // the scratch dir was just made; failing here is a broken machine
	}
	return d
}

// Have reports whether every named executable is on PATH.
func (b *Bench) Have(exes ...string) bool {
	for _, e := range exes {
		if _, err := exec.LookPath(e); err != nil {
			return false
		}
	}
	return true
}

// Compare runs the cases interleaved, runs times each after one warm-up, and
// prints median and minimum wall time and the ratio of medians to the base.
// A case whose command fails is reported as failed, not timed.
func (b *Bench) Compare(title string, runs int, cases ...Case) error {
	if runs <= 0 {
		runs = b.Runs
	}
	var active []Case
	for _, c := range cases {
		if !b.Have(c.Needs...) {
			fmt.Printf("  (skipped %s: %s not installed)\n", c.Name, strings.Join(c.Needs, ", "))
			continue
		}
		active = append(active, c)
	}
	samples := make([][]float64, len(active))
	failed := make([]error, len(active))
	for r := -1; r < runs; r++ {
		for i, c := range active {
			if failed[i] != nil || c.Runs > 0 && (r < 0 || r >= c.Runs) {
				continue
			}
			start := time.Now()
			out, err := exec.Command("sh", "-c", c.Shell).CombinedOutput()
			elapsed := time.Since(start)
			if err != nil {
				failed[i] = fmt.Errorf("%v: %s", err, lastLine(out))
				continue
			}
			if r >= 0 {
				samples[i] = append(samples[i], float64(elapsed.Microseconds())/1000)
			}
		}
	}
	base := -1
	for i, c := range active {
		if c.Base && failed[i] == nil {
			base = i
		}
	}
	if base < 0 {
		for i := range active {
			if failed[i] == nil {
				base = i
				break
			}
		}
	}
	fmt.Printf("\n%s (%d runs, ms)\n", title, runs)
	w := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(w, "  case\tmedian\tmin\tratio\tcommand")
	for i, c := range active {
		if failed[i] != nil {
			fmt.Fprintf(w, "  %s\tFAILED\t\t\t%s: %v\n", c.Name, c.Shell, failed[i])
			continue
		}
		med, min := Median(samples[i]), minOf(samples[i])
		name := c.Name
		if c.Runs > 0 {
			name += fmt.Sprintf(" (%d run)", len(samples[i]))
		}
		fmt.Fprintf(w, "  %s\t%.2f\t%.2f\t%.2fx\t%s\n", name, med, min, med/Median(samples[base]), c.Shell)
	}
	return w.Flush()
}

// Report prints custom measurements (latency, RSS, throughput) as medians.
func (b *Bench) Report(title string, rows ...Row) {
	fmt.Printf("\n%s\n", title)
	w := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(w, "  case\tmedian\tmin\tmax\tunit\tnote")
	for _, r := range rows {
		if len(r.Samples) == 0 {
			fmt.Fprintf(w, "  %s\t-\t-\t-\t%s\t%s\n", r.Name, r.Unit, r.Note)
			continue
		}
		fmt.Fprintf(w, "  %s\t%.3f\t%.3f\t%.3f\t%s\t%s\n", r.Name, Median(r.Samples), minOf(r.Samples), maxOf(r.Samples), r.Unit, r.Note)
	}
	w.Flush()
}

// Median returns the median of xs (0 for none).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
