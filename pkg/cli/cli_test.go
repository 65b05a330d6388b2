package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/rundir"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"1.5", 1500 * time.Millisecond, false},
		{"0", 0, false},
		{"200ms", 200 * time.Millisecond, false},
		{"2m", 2 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"-1", 0, true},
		{"-2s", 0, true},
		{"", 0, true},
		{"abc", 0, true},
		{"1e300", 0, true},
	} {
		got, err := ParseDuration(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestValidName(t *testing.T) {
	good := []string{"jobs", "a.b", "x_1", "Q-2", "user@host", strings.Repeat("a", MaxNameLen)}
	bad := []string{"", ".", "..", "a/b", "a..b", ".hidden", "-x", "a b", "a\x00b", "ü", strings.Repeat("a", MaxNameLen+1)}
	for _, n := range good {
		if err := ValidName("queue", n); err != nil {
			t.Errorf("ValidName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		err := ValidName("queue", n)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitUsage {
			t.Errorf("ValidName(%q) = %v, want usage error", n, err)
		}
	}
}

// TestReportRundir: a refused runtime directory (pkg/rundir, which cannot
// import cli) is a usage error, printed once.
func TestReportRundir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	err := rundir.Safe(dir)
	var buf strings.Builder
	if code := Report(&Env{Name: "pjoin", Stderr: &buf}, fmt.Errorf("open store: %w", err)); code != ExitUsage {
		t.Errorf("Report = %d, want %d", code, ExitUsage)
	}
	if got := buf.String(); !strings.HasPrefix(got, "pjoin: open store: runtime directory ") || strings.Count(got, "\n") != 1 {
		t.Errorf("printed %q", got)
	}
}

func TestArgsOrStdin(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "in")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("12\n\n  34 \njob-1\n")
	f.Seek(0, 0)
	got, err := ArgsOrStdin(nil, f)
	if err != nil || strings.Join(got, ",") != "12,34,job-1" {
		t.Errorf("ArgsOrStdin(file) = %q, %v", got, err)
	}
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	if got, _ := ArgsOrStdin(nil, devnull); len(got) != 0 {
		t.Errorf("ArgsOrStdin(/dev/null) = %q", got)
	}
	if got, _ := ArgsOrStdin([]string{"7"}, f); strings.Join(got, ",") != "7" {
		t.Errorf("args not preferred: %q", got)
	}
}

func TestReport(t *testing.T) {
	var b strings.Builder
	env := &Env{Name: "tool", Stderr: &b}
	for _, tc := range []struct {
		err  error
		code int
		msg  string
	}{
		{nil, 0, ""},
		{errors.New("boom"), 1, "tool: boom\n"},
		{Exitf(124, "timed out after %s", "1s"), 124, "tool: timed out after 1s\n"},
		{Exit(3, nil), 3, ""},
		{Usagef("bad"), 2, "tool: bad\n"},
	} {
		b.Reset()
		if code := Report(env, tc.err); code != tc.code || b.String() != tc.msg {
			t.Errorf("Report(%v) = %d %q; want %d %q", tc.err, code, b.String(), tc.code, tc.msg)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"1.5", "200ms", "2m", "-1", "NaN", "Inf", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDuration(s); err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
	})
}

func TestLinesChunks(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lines := NewLines(r, 2)
	next := func() ([]string, error) {
		type res struct {
			l   []string
			err error
		}
		ch := make(chan res, 1)
		go func() { l, err := lines.Next(); ch <- res{l, err} }()
		select {
		case got := <-ch:
			return got.l, got.err
		case <-time.After(10 * time.Second):
			t.Fatal("Next waits for more input than it needs")
			return nil, nil
		}
	}
	// What has arrived is returned while the writer is still open.
	w.WriteString("a\n\n b \n")
	if got, err := next(); err != nil || strings.Join(got, ",") != "a,b" {
		t.Errorf("first chunk = %q, %v", got, err)
	}
	// At most max lines a chunk; the last line needs no newline.
	w.WriteString("c\nd\ne\nf")
	w.Close()
	for _, want := range []string{"c,d", "e,f"} {
		if got, err := next(); err != nil || strings.Join(got, ",") != want {
			t.Errorf("chunk = %q, %v; want %s", got, err, want)
		}
	}
	if got, err := next(); err != io.EOF || got != nil {
		t.Errorf("at the end: %q, %v", got, err)
	}
	long := NewLines(strings.NewReader(strings.Repeat("x", maxLine+1)+"\n"), 10)
	if _, err := long.Next(); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("over-long line: %v", err)
	}
}

// FuzzLines: whatever the input and chunk size, the chunks together are
// the input's non-empty lines, trimmed, in order, none longer than a line
// may be.
func FuzzLines(f *testing.F) {
	f.Add([]byte("a\n\n b \nc"), 2)
	f.Add([]byte("\r\n\t\n"), 1)
	f.Add([]byte(strings.Repeat("x", 70000)+"\ny"), 3)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max < 1 || max > 1000 {
			return
		}
		var want []string
		for _, line := range strings.Split(string(in), "\n") {
			if s := strings.TrimSpace(line); s != "" {
				want = append(want, s)
			}
		}
		var got []string
		lines := NewLines(bytes.NewReader(in), max)
		for {
			chunk, err := lines.Next()
			if len(chunk) > max {
				t.Fatalf("chunk of %d lines, max %d", len(chunk), max)
			}
			got = append(got, chunk...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("lines = %q, want %q", got, want)
		}
	})
}

func TestWarnf(t *testing.T) {
	var buf strings.Builder
	(&Env{Name: "ppool", Stderr: &buf}).Warnf("queue %s: %v", "q", errors.New("gone"))
	if got := buf.String(); got != "ppool: queue q: gone\n" {
		t.Errorf("Warnf printed %q", got)
	}
}

// TestHelpWithDefault: what --help says of each kind of flag's default.
func TestHelpWithDefault(t *testing.T) {
	var grammar struct {
		Grace   Duration `default:"5s" help:"Time between TERM and KILL."`
		Token   string   `env:"PKIT_T" help:"Authenticate with this token."`
		Timeout Duration `help:"Give up after DUR (default: wait forever)."`
		Dir     string   `env:"PKIT_D" help:"Directory (default: the runtime directory)."`
		Quiet   bool     `help:"Print nothing."`
		Verbose int      `type:"counter" help:"More output."`
		Name    string   `help:"Name."`
	}
	p, err := Parser(&Command{Name: "tool", Grammar: &grammar}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"grace":   "Time between TERM and KILL (default: 5s).",
		"token":   "Authenticate with this token (default: $PKIT_T).",
		"timeout": "Give up after DUR (default: wait forever).",
		"dir":     "Directory (default: the runtime directory) ($PKIT_D).",
		"quiet":   "Print nothing.",
		"verbose": "More output.",
		"name":    "Name.", // says nothing: TestHelpDefaults in cmd fails for it
	}
	for _, f := range p.Model.Node.Flags {
		if w, ok := want[f.Name]; ok {
			if got := HelpWithDefault(f.Value); got != w {
				t.Errorf("--%s: %q, want %q", f.Name, got, w)
			}
			delete(want, f.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("flags not in the model: %v", want)
	}
}
