package pjoin

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/pkit-sh/pkit/pkg/procwait"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		c   CLI
		bad bool
	}{
		{CLI{}, false},
		{CLI{Any: true}, false},
		{CLI{Any: true, Count: 2}, true},
		{CLI{Count: -1}, true},
		{CLI{Alive: true, Status: true}, true},
		{CLI{Log: true, Terminate: true}, true},
		{CLI{Terminate: true, Kill: true}, false},
	} {
		c := tc.c
		if err := c.check(); (err != nil) != tc.bad {
			t.Errorf("%+v: check() = %v", tc.c, err)
		}
	}
	c := CLI{Any: true}
	c.check()
	if c.Count != 1 {
		t.Errorf("--any: count %d, want 1", c.Count)
	}
}

func TestCodeAndFailure(t *testing.T) {
	for _, tc := range []struct {
		t      target
		code   string
		status int
	}{
		{target{done: true, status: procwait.Status{Known: true}, state: "exited"}, "0", 0},
		{target{done: true, status: procwait.Status{Known: true, Code: 3}, state: "exited"}, "3", 3},
		{target{done: true, status: procwait.Status{Known: true, Signal: syscall.SIGTERM}, state: "killed"}, "-15", 143},
		{target{done: true, status: procwait.Status{Known: true, Signal: syscall.SIGTERM}, state: "timeout"}, "-15", 124},
		{target{done: true, state: "unknown"}, "?", 1},
		{target{}, "-", 0},
	} {
		if got := tc.t.code(); got != tc.code {
			t.Errorf("%+v: code() = %q, want %q", tc.t, got, tc.code)
		}
		if !tc.t.done {
			continue
		}
		j := &joiner{cli: &CLI{}, out: io.Discard}
		j.report(&tc.t)
		if j.first != tc.status {
			t.Errorf("%+v: status %d, want %d", tc.t, j.first, tc.status)
		}
	}
	j := &joiner{cli: &CLI{UnknownOK: true}, out: io.Discard}
	j.report(&target{done: true, state: "unknown"})
	if j.first != 0 {
		t.Errorf("--unknown-ok with an unknown code: status %d, want 0", j.first)
	}
}

// TestPrint: the plain line, to a buffer and (through raw writes) to a file.
func TestPrint(t *testing.T) {
	done := &target{pid: 42, name: "sleep", done: true, status: procwait.Status{Known: true, Signal: syscall.SIGKILL}}
	running := &target{pid: 7, name: "j3"}
	var buf bytes.Buffer
	j := &joiner{cli: &CLI{}, out: &buf}
	j.print(done)
	j.print(running)
	want := "42\tsleep\t-9\n7\tj3\trunning\n"
	if buf.String() != want {
		t.Errorf("printed %q, want %q", buf.String(), want)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	j.out = f
	j.print(done)
	j.print(running)
	if b, _ := os.ReadFile(f.Name()); string(b) != want {
		t.Errorf("wrote %q to a file, want %q", b, want)
	}
}

// TestJobRefs: the job of each argument or line, as pspawn prints it.
func TestJobRefs(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		read bool
		want []string
	}{
		{[]string{"j1\t4711"}, false, []string{"j1"}},
		{[]string{"j1\t4711\nj2\t4712\n"}, false, []string{"j1", "j2"}},
		{[]string{"bad name"}, false, []string{"bad name"}}, // refused later as a name
		{[]string{"j1 4711", "  j2\t4712  ", ""}, true, []string{"j1", "j2"}},
		{[]string{`{"id":"j5","pid":4711,"start_time":1}`}, true, []string{"j5"}},
		{[]string{`{"pid":4711,"name":"sleep","state":"running"}`}, false, []string{"4711"}},
		{[]string{`{not json`}, true, []string{"{not"}},
	} {
		got := jobRefs(append([]string(nil), tc.in...), tc.read)
		if !slices.Equal(got, tc.want) {
			t.Errorf("jobRefs(%q, %v) = %q, want %q", tc.in, tc.read, got, tc.want)
		}
	}
}

// FuzzJobRefs: lines from standard input never crash the reader, and it
// takes no empty reference (a bad one is refused later, as a name).
func FuzzJobRefs(f *testing.F) {
	for _, s := range []string{"j1\t4711", `{"id":"j5"}`, `{"pid":-1}`, "{", " \t\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, read := range []bool{false, true} {
			for _, ref := range jobRefs([]string{s}, read) {
				if ref == "" {
					t.Errorf("jobRefs(%q, %v): reference %q", s, read, ref)
				}
			}
		}
	})
}
