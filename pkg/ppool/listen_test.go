package ppool

import (
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/listen"
)

// parseListen parses args as ppool's command line and returns the server
// options --listen would run with.
func parseListen(t *testing.T, args ...string) (listen.Options, error) {
	t.Helper()
	cmd := Command()
	p, err := cli.Parser(cmd, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse(args); err != nil {
		return listen.Options{}, err
	}
	c := cmd.Grammar.(*CLI)
	if !c.Server.listening() {
		t.Fatalf("%q: not in server mode", args)
	}
	return c.listenOptions(&cli.Env{Name: "ppool", Stderr: io.Discard})
}

func TestListenOptions(t *testing.T) {
	opts, err := parseListen(t, "--listen", "127.0.0.1:0", "--print-addr", "--ready", "addr", "--json",
		"--joblog", "log", "--timeout", "2s", "--idle", "500ms", "--grace", "1", "--max-per-ip", "3",
		"--stderr-to-client", "--no-progress", "--", "tr", "a-z", "A-Z")
	if err != nil {
		t.Fatal(err)
	}
	want := listen.Options{
		Config: listen.Config{
			Command: []string{"tr", "a-z", "A-Z"}, Jobs: listen.DefaultJobs, MaxPerIP: 3,
			Timeout: 2 * time.Second, Idle: 500 * time.Millisecond, Grace: time.Second,
			StderrToClient: true,
		},
		Addr: "127.0.0.1:0", Ready: abs(t, "addr"), PrintAddr: true, Joblog: abs(t, "log"), JSON: true,
	}
	if opts.Warn == nil {
		t.Error("no Warn func")
	}
	opts.Warn = nil // funcs do not compare
	if !reflect.DeepEqual(opts, want) {
		t.Errorf("options:\n got %+v\nwant %+v", opts, want)
	}
}

func abs(t *testing.T, path string) string {
	p, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestListenJobs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, listen.DefaultJobs},
		{[]string{"-j", "2"}, 2},
		{[]string{"--jobs=7"}, 7},
		{[]string{"-j", "100%"}, runtime.NumCPU()}, // given explicitly: not the server default
	} {
		args := append(append([]string{"--listen", ":0"}, tc.args...), "cat")
		opts, err := parseListen(t, args...)
		if err != nil || opts.Jobs != tc.want {
			t.Errorf("%q: jobs %d, %v; want %d", args, opts.Jobs, err, tc.want)
		}
	}
}

func TestListenShell(t *testing.T) {
	t.Setenv("PARALLEL_SHELL", "")
	for _, tc := range []struct {
		args  []string
		shell string
	}{
		{[]string{"cat"}, ""},
		{[]string{"tr a-z A-Z | rev"}, "sh"},
		{[]string{"--shell", "sh", "echo", "{}"}, "sh"},
		{[]string{"--shell", "bash", "echo", "{}"}, "bash"},
	} {
		opts, err := parseListen(t, append([]string{"--listen", ":0"}, tc.args...)...)
		if err != nil || opts.Shell != tc.shell {
			t.Errorf("%q: shell %q, %v; want %q", tc.args, opts.Shell, err, tc.shell)
		}
	}
}

// TestListenCompatible: every flag tagged listen:"" is accepted with
// --listen (the tags, read from kong's model, are the only list).
func TestListenCompatible(t *testing.T) {
	args := []string{"--listen", ":0", "-j", "2", "--shell", "sh", "--timeout", "1s", "--grace", "1s",
		"--joblog", "log", "--json", "--progress", "--no-progress", "--idle", "1s", "--max-per-ip", "3",
		"--stderr-to-client", "--ready", "f", "--print-addr", "cat"}
	if _, err := parseListen(t, args...); err != nil {
		t.Errorf("%q: %v", args, err)
	}
}

func TestListenUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--ready", "f", "cat"}, "--ready needs --listen"},
		{[]string{"--print-addr", "cat"}, "--print-addr needs --listen"},
		{[]string{"--idle", "1s", "cat"}, "--idle needs --listen"},
		{[]string{"--max-per-ip", "1", "cat"}, "--max-per-ip needs --listen"},
		{[]string{"--stderr-to-client", "cat"}, "--stderr-to-client needs --listen"},
		{[]string{"--listen", ":0", "-k", "cat"}, "--keep-order cannot be used with --listen"},
		{[]string{"--listen", ":0", "-a", "f", "--tag", "cat"}, "--arg-file, --tag cannot be used with --listen"},
		{[]string{"--listen", ":0", "--halt", "now,fail=1", "cat"}, "--halt cannot be used with --listen"},
		{[]string{"--listen", ":0", "cat", ":::", "a"}, "::: cannot be used with --listen"},
		{[]string{"--listen", ":0", "cat", "::::", "f"}, ":::: cannot be used with --listen"},
		{[]string{"--listen", ":0"}, "no command given"},
		{[]string{"--listen", ":0", "--"}, "no command given"},
		{[]string{"--listen", ":0", "-j", "0", "cat"}, "a server needs a bound"},
		{[]string{"--listen", ":0", "-j", "x", "cat"}, "want N, N% or 0"},
		{[]string{"--listen", ":0", "--max-per-ip=-1", "cat"}, "want N >= 0"},
	} {
		_, err := parseListen(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.msg)
			continue
		}
		var ee *cli.ExitError
		if !errors.As(err, &ee) || ee.Code != cli.ExitUsage {
			t.Errorf("%q: %v is not a usage error", tc.args, err)
		}
	}
}

// TestListenMainUsage checks the exit status the shell sees.
func TestListenMainUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--listen", ":0", "-u", "cat"},
		{"--ready", "f", "cat"},
		{"--listen", ":0", "cat", ":::", "a"},
		{"--listen", "example.com:80", "cat"},
	} {
		if got := Main(args); got != cli.ExitUsage {
			t.Errorf("Main(%q) = %d, want %d", args, got, cli.ExitUsage)
		}
	}
}
