package cmd_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// smallTmpfs mounts a tmpfs of size bytes for the test, or skips it where
// the test may not mount one.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDir fills the filesystem of dir to the last byte.
func fillDir(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for _, n := range []int{1024, 64, 1} { // the last partial block
		for {
			if _, err := f.Write(block[:n]); err != nil {
				break
			}
		}
	}
}

// crashSigns are what a Go crash prints; no tool may print them.
var crashSigns = regexp.MustCompile(`goroutine \d|panic:|fatal error:|SIGBUS|SIGSEGV`)

// checkClean fails unless every line of stderr is the tool's own
// "tool: ..." message, there is one (want > 0) or none, and the exit
// status is want.
func checkClean(t *testing.T, what, tool, stderr string, code, want int) {
	t.Helper()
	if crashSigns.MatchString(stderr) {
		t.Errorf("%s: crashed (exit %d):\n%s", what, code, stderr)
		return
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if stderr == "" {
		lines = nil
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, tool+": ") {
			t.Errorf("%s: stderr line %q is not a %q message", what, l, tool+": ")
		}
	}
	if code != want || (want != 0) != (len(lines) == 1) || len(lines) > 1 {
		t.Errorf("%s: exit %d with stderr %q; want exit %d and %s", what, code, stderr, want, map[bool]string{true: "one line", false: "nothing"}[want != 0])
	}
}

// TestFullDisk: no tool prints a Go stack trace on a full disk; each says
// what failed in one "tool: ..." line and exits 1 (an operation failed),
// and a tool that only reads (ptree) works as usual.
func TestFullDisk(t *testing.T) {
	full := smallTmpfs(t, "256k")
	if err := os.MkdirAll(filepath.Join(full, "jobs"), 0o700); err != nil {
		t.Fatal(err)
	}
	fillDir(t, full)
	bin := toolBin(t)
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "PKIT_DIR="+full, "PKIT_SHM_DIR="+full, "GORACE=atexit_sleep_ms=0")
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(filepath.Join(bin, args[0]), args[1:]...)
		cmd.Dir = t.TempDir()
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.WaitDelay = 10 * time.Second
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), errb.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), 0
	}
	for _, c := range []struct {
		args []string
		want int
		msg  string // in the message
	}{
		{[]string{"pspawn", "--", "true"}, 1, "no space left on device"},
		{[]string{"pspawn", "-w", "--", "true"}, 1, "no space left on device"},
		{[]string{"pjoin", "j1"}, 1, "no such job"},
		{[]string{"ppool", "--joblog", filepath.Join(full, "log"), "echo", ":::", "a"}, 1, "no space left on device"},
		{[]string{"pqueue", "put", "q", "x"}, 1, "no space left on device"},
		{[]string{"pshm", "create", "a", "i64"}, 1, "no space left on device"},
		{[]string{"pshm", "dict", "d", "set", "k", "v"}, 1, "no space left on device"},
		{[]string{"ptree", "-p", "1", "--flat"}, 0, ""},
	} {
		what := strings.Join(c.args, " ")
		_, stderr, code := run(c.args...)
		checkClean(t, what, c.args[0], stderr, code, c.want)
		if !strings.Contains(stderr, c.msg) {
			t.Errorf("%s: stderr %q does not say %q", what, stderr, c.msg)
		}
	}

	// pqueued serves from a full store; a put through it fails with one
	// line, and the server keeps running, then stops cleanly on TERM.
	srv := exec.Command(filepath.Join(bin, "pqueued"), "--listen", "127.0.0.1:0", "--store", filepath.Join(full, "store"))
	srv.Env = env
	var srvErr bytes.Buffer
	srv.Stderr = &srvErr
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	defer func() {
		srv.Process.Kill() // by PID: it is ours
		<-done
	}()
	urls := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		urls <- strings.TrimSpace(line)
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		done <- err
		checkClean(t, "pqueued --store FULL", "pqueued", srvErr.String(), srv.ProcessState.ExitCode(), 1)
		return
	case <-time.After(30 * time.Second):
		t.Fatal("pqueued printed no URL within 30s")
	}
	t.Logf("pqueued at %s", url)
	_, stderr, code := run("pqueue", "--url", url, "put", "q", "x")
	checkClean(t, "pqueue --url put on a full pqueued store", "pqueue-nats", stderr, code, 1)
	if !strings.Contains(stderr, "insufficient storage") {
		t.Errorf("pqueue --url put: stderr %q does not say the store is full", stderr)
	}
	srv.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		done <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("pqueued did not stop within 30s of TERM")
	}
	checkClean(t, "pqueued --store FULL after TERM", "pqueued", srvErr.String(), srv.ProcessState.ExitCode(), 0)
}
