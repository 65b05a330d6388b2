package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"
	"github.com/pkit-sh/pkit/pkg/cli"
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
// prints median and minimum wall time and the ratio of medians to the base,
// and the same for CPU time (user+system of the shell and everything it
// ran), which a loaded machine disturbs less than wall time.
// A case whose command fails is reported as failed, not timed.
func (b *Bench) Compare(title string, runs int, cases ...Case) error {
	_, err := b.Measure(title, runs, cases...)
	return err
}

// Medians are one case's median wall and CPU times, in ms.
type Medians struct{ Wall, CPU float64 }

// Measure is Compare that also returns the medians of each case that ran,
// by name, for Targets.
func (b *Bench) Measure(title string, runs int, cases ...Case) (map[string]Medians, error) {
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
	cpu := make([][]float64, len(active)) // user+system time of sh and all it ran
	failed := make([]error, len(active))
	for r := -1; r < runs; r++ {
		for i, c := range active {
			if failed[i] != nil || c.Runs > 0 && (r < 0 || r >= c.Runs) {
				continue
			}
			cmd := exec.Command("sh", "-c", c.Shell)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			elapsed := time.Since(start)
			if err != nil {
				failed[i] = fmt.Errorf("%v: %s", err, lastLine(out))
				continue
			}
			if r >= 0 {
				samples[i] = append(samples[i], float64(elapsed.Microseconds())/1000)
				used := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
				cpu[i] = append(cpu[i], float64(used.Microseconds())/1000)
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
	fmt.Fprintln(w, "  case\tmedian\tmin\tratio\tcpu\tcpu ratio\tcommand")
	medians := map[string]Medians{}
	for i, c := range active {
		if failed[i] != nil {
			fmt.Fprintf(w, "  %s\tFAILED\t\t\t\t\t%s: %v\n", c.Name, c.Shell, failed[i])
			continue
		}
		med, min := Median(samples[i]), minOf(samples[i])
		medians[c.Name] = Medians{Wall: med, CPU: Median(cpu[i])}
		name := c.Name
		if c.Runs > 0 {
			name += fmt.Sprintf(" (%d run)", len(samples[i]))
		}
		fmt.Fprintf(w, "  %s\t%.2f\t%.2f\t%.2fx\t%.2f\t%.2fx\t%s\n", name, med, min, med/Median(samples[base]),
			Median(cpu[i]), Median(cpu[i])/Median(cpu[base]), c.Shell)
	}
	return medians, w.Flush()
}

// Target is a goal the bench checks: the medians of case Case over those
// of case Anchor (both measured in one Measure) at most Max.
type Target struct {
	Case, Anchor string
	Max          float64
}

// Targets prints, for each target, the ratios of wall and CPU medians and
// whether each is within the target; a target whose cases did not both
// run (an anchor not installed) says so.
func (b *Bench) Targets(m map[string]Medians, targets ...Target) {
	fmt.Printf("\ntargets (ratio of medians, met when <= max)\n")
	w := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(w, "  case\tanchor\twall\tcpu\tmax\tmet")
	for _, t := range targets {
		c, okc := m[t.Case]
		a, oka := m[t.Anchor]
		if !okc || !oka || a.Wall <= 0 || a.CPU <= 0 {
			fmt.Fprintf(w, "  %s\t%s\t-\t-\t%.2fx\tnot measured\n", t.Case, t.Anchor, t.Max)
			continue
		}
		wall, cpu := c.Wall/a.Wall, c.CPU/a.CPU
		met := "yes"
		switch {
		case wall > t.Max && cpu > t.Max:
			met = "no"
		case wall > t.Max:
			met = "cpu only"
		case cpu > t.Max:
			met = "wall only"
		}
		fmt.Fprintf(w, "  %s\t%s\t%.2fx\t%.2fx\t%.2fx\t%s\n", t.Case, t.Anchor, wall, cpu, t.Max, met)
	}
	w.Flush()
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

// buildModelFloor builds, as bin/name, the start-up floor of a tool whose
// grammar is cmd's: a program that imports only kong, builds a kong model
// with the same commands, flags and positional arguments, with their help
// texts, defaults, placeholders, environment variables and groups
// (generated from cmd's model; every value is a string, bool or []string)
// and exits without parsing.
func buildModelFloor(dir, bin, name string, cmd *cli.Command) error {
	k, err := cli.Parser(cmd, io.Discard, io.Discard)
	if err != nil {
		return err
	}
	var types []string
	var cmds, flags, args int
	var gen func(n *kong.Node) string
	gen = func(n *kong.Node) string {
		cmds, args = cmds+1, args+len(n.Positional)
		me := len(types)
		typ := fmt.Sprintf("n%d", me)
		types = append(types, "")
		var b strings.Builder
		fmt.Fprintf(&b, "type %s struct {\n", typ)
		for i, f := range n.Flags {
			flags++
			if f.Name == "help" || f.Name == "version" { // kong and cli.Parser add these
				continue
			}
			goType := "string"
			switch {
			case f.IsBool():
				goType = "bool"
			case f.IsSlice():
				goType = "[]string"
			}
			tags := fmt.Sprintf("name:%q help:%q", f.Name, escape(f.Help))
			if f.Short != 0 {
				tags += fmt.Sprintf(" short:%q", string(f.Short))
			}
			if f.HasDefault {
				tags += fmt.Sprintf(" default:%q", escape(f.Default))
			}
			if f.PlaceHolder != "" {
				tags += fmt.Sprintf(" placeholder:%q", escape(f.PlaceHolder))
			}
			if len(f.Envs) > 0 {
				tags += fmt.Sprintf(" env:%q", strings.Join(f.Envs, ","))
			}
			if f.Group != nil {
				tags += fmt.Sprintf(" group:%q", escape(f.Group.Title))
			}
			fmt.Fprintf(&b, "\tF%d %s `%s`\n", i, goType, tags)
		}
		for i, p := range n.Positional {
			goType := "string"
			if p.IsSlice() {
				goType = "[]string"
			}
			fmt.Fprintf(&b, "\tA%d %s `arg:\"\" optional:\"\" name:%q help:%q`\n", i, goType, p.Name, escape(p.Help))
		}
		for i, c := range n.Children {
			fmt.Fprintf(&b, "\tC%d %s `cmd:\"\" name:%q help:%q`\n", i, gen(c), c.Name, escape(c.Help))
		}
		b.WriteString("}\n")
		types[me] = b.String()
		return typ
	}
	gen(k.Model.Node)
	fmt.Printf("  %s: %s's kong model, %d commands (the root too), %d flags, %d positional arguments\n", name, cmd.Name, cmds, flags, args)
	src := "package main\n\nimport \"github.com/alecthomas/kong\"\n\n" + strings.Join(types, "\n") +
		"\ntype version struct {\n\tVersion kong.VersionFlag `help:\"v\"`\n}\n\n" +
		"func main() {\n\tif _, err := kong.New(&n0{}, kong.Name(" + strconv.Quote(cmd.Name) + "), kong.Embed(&version{}), kong.Vars{\"version\": \"x\"}); err != nil {\n\t\tpanic(err)\n\t}\n}\n"
	return buildInModule(dir, bin, name, src)
}

// escape keeps kong from interpolating a $ of an already interpolated text.
func escape(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// buildInModule builds the program src as bin/name inside this module (so
// it uses the module's kong), from a temporary file overlaid at
// cmd/name/main.go: the repository is not touched.
func buildInModule(dir, bin, name, src string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	file := filepath.Join(dir, name+".go")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		return err
	}
	overlay := filepath.Join(dir, name+".json")
	virtual := filepath.Join(wd, "cmd", name, "main.go")
	if err := os.WriteFile(overlay, []byte(fmt.Sprintf(`{"Replace":{%q:%q}}`, virtual, file)), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-overlay", overlay, "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(bin, name), "./cmd/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the floor %s: %v: %s", name, err, out)
	}
	return nil
}

// Hello builds the per-call floor, a static Go program that prints hello,
// into the bench's bin directory (once) and returns its path.
func (b *Bench) Hello() (string, error) {
	exe := filepath.Join(b.BinDir, "hello")
	if _, err := os.Stat(exe); err == nil {
		return exe, nil
	}
	src := b.TempDir()
	files := map[string]string{
		"go.mod":  "module hello\n\ngo 1.22\n",
		"main.go": "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"hello\\n\") }\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	return exe, goBuild(src, exe, ".")
}

// beforeEnv names a git revision whose tools are timed beside the current
// ones in the same run, for before/after figures.
const beforeEnv = "PKIT_BENCH_BEFORE"

// Before builds cmd/TOOL as of $PKIT_BENCH_BEFORE into the bench's bin
// directory as TOOL-before and returns that name with the revision, or
// two empty strings when the variable is unset.
func (b *Bench) Before(tool string) (name, rev string, err error) {
	rev = os.Getenv(beforeEnv)
	if rev == "" {
		return "", "", nil
	}
	src := b.TempDir()
	if out, err := exec.Command("sh", "-c", `git archive --format=tar "$0" | tar -x -C "$1"`, rev, src).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("%s=%s: git archive: %v: %s", beforeEnv, rev, err, out)
	}
	name = tool + "-before"
	return name, rev, goBuild(src, filepath.Join(b.BinDir, name), "./cmd/"+tool)
}

// goBuild builds pkg in dir to out as the bench builds pkit and goreleaser
// ships it: static, stripped.
func goBuild(dir, out, pkg string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s in %s: %v: %s", pkg, dir, err, o)
	}
	return nil
}
