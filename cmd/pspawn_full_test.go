//go:build linux

package cmd_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPspawnFullDisk: a record that cannot be written is an error on
// standard error, never silence, and a job whose end could not be
// recorded is not read as a success.
func TestPspawnFullDisk(t *testing.T) {
	pkitDir := smallTmpfs(t, "256k")
	fill := func() { fillDir(t, pkitDir) }
	bin := toolBin(t)
	work := t.TempDir()
	run := func(stderr *os.File, name string, args ...string) (string, int) {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "PKIT_DIR="+pkitDir, "GORACE=atexit_sleep_ms=0")
		var out bytes.Buffer
		cmd.Stdout = &out
		if stderr != nil {
			cmd.Stderr = stderr
		} else {
			cmd.Stderr = &out
		}
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), 0
	}

	// A job starts while there is room; the disk fills; its end cannot be
	// recorded: the supervisor says so on pspawn's standard error (a file).
	errFile, err := os.Create(filepath.Join(work, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	gate := filepath.Join(work, "go")
	out, rc := run(errFile, "pspawn", "--", "sh", "-c", `while [ ! -e "$1" ]; do sleep 0.02; done`, "x", gate)
	if rc != 0 || !regexp.MustCompile(`^j1\t\d+\n$`).MatchString(out) {
		t.Fatalf("pspawn: %q, exit %d", out, rc)
	}
	fill()
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`(?m)^pspawn: write job j1: .*no space left on device$`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(errFile.Name())
		if want.Match(b) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error on stderr after the job ended on a full disk; stderr: %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The record still says running and the supervisor is gone: an
	// unknown end, a failure, and pjoin says it cannot settle the record.
	deadline = time.Now().Add(10 * time.Second)
	for {
		out, rc = run(nil, "pjoin", "j1")
		if rc == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rc != 1 || !regexp.MustCompile(`(?m)^\d+\tj1\t\?$`).MatchString(out) || !strings.Contains(out, "pjoin: write job j1: ") {
		t.Errorf("pjoin j1 after an unrecorded end: %q, exit %d; want ?, exit 1 and the write error", out, rc)
	}

	// No room for a new job's record: pspawn (and pspawn -w) fail with exit
	// 1 and say why; nothing runs.
	for _, args := range [][]string{{"--", "true"}, {"-w", "--", "true"}} {
		out, rc := run(nil, "pspawn", args...)
		if rc != 1 || !regexp.MustCompile(`^pspawn: .*no space left on device\n$`).MatchString(out) {
			t.Errorf("pspawn %s on a full disk: %q, exit %d; want one error line and exit 1", strings.Join(args, " "), out, rc)
		}
	}
}
