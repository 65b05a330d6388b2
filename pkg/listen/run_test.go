package listen

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
)

// syncBuffer is a bytes.Buffer safe for the server and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// Run end to end: the ready file and --print-addr give the port, records go
// to the joblog and --json, and SIGTERM drains and exits 143.
func TestRunSignal(t *testing.T) {
	dir := t.TempDir()
	ready, joblog := filepath.Join(dir, "ready"), filepath.Join(dir, "joblog")
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(Options{
			Config: Config{Command: []string{"tr", "a-z", "A-Z"}, Grace: time.Second},
			Addr:   "127.0.0.1:0", Ready: ready, PrintAddr: true, Joblog: joblog, JSON: true,
		}, &stdout)
	}()
	waitFor(t, "ready file", func() bool { b, _ := os.ReadFile(ready); return len(b) > 0 })
	b, _ := os.ReadFile(ready)
	addr := strings.TrimSpace(string(b))
	if !strings.HasPrefix(stdout.String(), addr+"\n") {
		t.Fatalf("stdout %q does not start with the address %q", stdout.String(), addr)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if got, err := request(c, "hello\n"); err != nil || got != "HELLO\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	waitFor(t, "record", func() bool { return strings.Count(stdout.String(), "\n") == 2 })
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	var err2 error
	select {
	case err2 = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after SIGTERM")
	}
	var ee *cli.ExitError
	if !errors.As(err2, &ee) || ee.Code != 143 || ee.Err != nil {
		t.Fatalf("Run = %v, want silent exit 143", err2)
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Fatal("ready file left behind")
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var rec jsonRecord
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil || rec.Seq != 1 || rec.Exit != 0 ||
		rec.BytesIn == nil || *rec.BytesIn != 6 || *rec.BytesOut != 6 || !strings.HasPrefix(rec.Peer, "127.0.0.1:") {
		t.Fatalf("json record %q: %+v %v", lines[1], rec, err)
	}
	log, _ := os.ReadFile(joblog)
	rows := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(rows) != 2 || rows[0] != joblogHeader {
		t.Fatalf("joblog %q", log)
	}
	f := strings.Split(rows[1], "\t")
	if len(f) != 9 || f[0] != "1" || f[1] != rec.Peer || f[4] != "6" || f[5] != "6" || f[6] != "0" || f[8] != "tr a-z A-Z" {
		t.Fatalf("joblog row %q", rows[1])
	}
}

func TestRunErrors(t *testing.T) {
	var out bytes.Buffer
	for _, tc := range []struct {
		opts Options
		code int
	}{
		{Options{Addr: "nonsense", Config: Config{Command: []string{"cat"}}}, cli.ExitUsage},
		{Options{Addr: ":0", Config: Config{Command: []string{"no-such-pkit-cmd"}}}, cli.ExitNotFound},
		{Options{Addr: "unix:/nonexistent-dir/s", Config: Config{Command: []string{"cat"}}}, cli.ExitFail},
	} {
		err := Run(tc.opts, &out)
		if got := cli.Report(&cli.Env{Name: "ppool", Stderr: &out}, err); got != tc.code {
			t.Errorf("Run(%+v) = %v (status %d), want %d", tc.opts, err, got, tc.code)
		}
	}
}

// SIGHUP stops like SIGTERM; a second signal cuts the grace period short.
func TestRunSecondSignal(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	done := make(chan error, 1)
	go func() {
		done <- Run(Options{
			Config: Config{Command: []string{"sh", "-c", "echo up; exec sleep 30"}, Grace: 20 * time.Second},
			Addr:   "127.0.0.1:0", Ready: ready,
		}, io.Discard)
	}()
	waitFor(t, "ready file", func() bool { b, _ := os.ReadFile(ready); return len(b) > 0 })
	b, _ := os.ReadFile(ready)
	c, err := net.Dial("tcp", strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	up := make([]byte, 3)
	if _, err := io.ReadFull(c, up); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Run returned during the grace period: %v", err)
	default:
	}
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case err := <-done:
		var ee *cli.ExitError
		if !errors.As(err, &ee) || ee.Code != 129 {
			t.Fatalf("Run = %v, want exit 129", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second signal did not end the grace period")
	}
	if n, _ := c.Read(up); n != 0 {
		t.Fatal("handler still connected")
	}
}

func TestStderrToClient(t *testing.T) {
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"sh", "-c", "echo out; echo err >&2"}, StderrToClient: true})
	if got, err := request(ts.dial(t), ""); err != nil || got != "out\nerr\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestRecordJSON: --json gives every field of every record, null where
// there is no value (ended when the handler exited by itself, bytes the
// system cannot count).
func TestRecordJSON(t *testing.T) {
	var out bytes.Buffer
	w := &recordWriter{stdout: &out, json: true}
	w.write(Record{Seq: 1, Slot: 1, Peer: "127.0.0.1:5", BytesIn: -1, BytesOut: 3, Command: []string{"cat"}})
	w.write(Record{Seq: 2, Slot: 1, Peer: "127.0.0.1:6", Exit: 143, Signal: 15, BytesIn: 0, BytesOut: 0, Ended: "timeout", Command: []string{"cat"}})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, want := range []string{`"bytes_in":null,"bytes_out":3,"ended":null,`, `"exit":143,"signal":15,"bytes_in":0,"bytes_out":0,"ended":"timeout",`} {
		if i >= len(lines) || !strings.Contains(lines[i], want) {
			t.Errorf("record %d: want %s in:\n%s", i+1, want, out.String())
		}
	}
}
