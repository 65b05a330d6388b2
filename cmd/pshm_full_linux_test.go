package cmd_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPshmFullShm: pshm on a full shared-memory directory fails cleanly,
// with one "pshm: ..." line and exit 1, instead of creating a sparse
// object whose first write dies of SIGBUS with a Go stack trace; and it
// leaves nothing behind.
func TestPshmFullShm(t *testing.T) {
	shmDir := smallTmpfs(t, "256k")
	bin := toolBin(t)
	pshm := func(args ...string) (string, int) {
		cmd := exec.Command(filepath.Join(bin, "pshm"), args...)
		cmd.Env = append(os.Environ(), "PKIT_SHM_DIR="+shmDir, "PKIT_DIR="+t.TempDir(), "GORACE=atexit_sleep_ms=0")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), code
	}
	nospace := func(out string, code int, name string) {
		t.Helper()
		want := "pshm: create " + name + ": its "
		if code != 1 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "no space left on device\n") {
			t.Errorf("pshm create %s on a full tmpfs: exit %d, output %q; want exit 1 and one line %q...no space left on device", name, code, out, want)
		}
	}
	// 8 GB asked of a 256 KiB tmpfs: refused at once, not a sparse file.
	out, code := pshm("create", "huge", "i64", "-n", "999999999")
	nospace(out, code, "huge")
	// Fill most of it, then ask for more than is left: before reserving,
	// this create succeeded and its --init died of SIGBUS.
	if out, code := pshm("create", "a", "u8", "-n", "200000"); code != 0 {
		t.Fatalf("create a: exit %d: %s", code, out)
	}
	out, code = pshm("create", "b", "u8", "-n", "100000", "--init", "1")
	nospace(out, code, "b")
	out, code = pshm("dict", "d", "set", "k", "v")
	nospace(out, code, "d")
	if out, code := pshm("ls"); code != 0 || strings.Contains(out, "b") || strings.Contains(out, "huge") || !strings.Contains(out, "a") {
		t.Errorf("pshm ls after the failed creates: exit %d:\n%s", code, out)
	}
	entries, _ := os.ReadDir(shmDir)
	if len(entries) != 1 {
		t.Errorf("files left in the shm directory: %v", entries)
	}
	// What was created works to the last byte.
	if out, code := pshm("set", "a[199999]", "7"); code != 0 {
		t.Errorf("set a[199999]: exit %d: %s", code, out)
	}
	if out, _ := pshm("get", "a[199999]"); out != "7\n" {
		t.Errorf("get a[199999] = %q", out)
	}
}
