//go:build linux

package cmd_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ptyShell runs script with sh in a session of its own whose controlling
// terminal is a new pseudo-terminal, as a terminal emulator runs a shell.
// type_ is called with a function that waits (10 s at most) until the
// terminal has shown a string and one that types bytes at it. It returns
// everything the terminal showed.
func ptyShell(t *testing.T, script string, type_ func(await func(string), key func(string))) string {
	t.Helper()
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	m := os.NewFile(uintptr(master), "ptmx")
	defer m.Close()
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	bin := toolBin(t)
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PKIT_DIR="+filepath.Join(dir, ".pkit"),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var mu sync.Mutex
	var out bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	shown := func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
	await := func(s string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(shown(), s) {
			if time.Now().After(deadline) {
				ps, _ := exec.Command("ps", "-s", strconv.Itoa(cmd.Process.Pid), "-o", "pid,ppid,pgid,tpgid,stat,pending,blocked,ignored,caught,wchan:24,args").CombinedOutput()
				t.Logf("its session:\n%s", ps)
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Fatalf("terminal never showed %q; it showed:\n%s", s, shown())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	key := func(s string) {
		if _, err := m.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	if type_ != nil {
		type_(await, key)
	}
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	select {
	case <-ended:
	case <-time.After(20 * time.Second):
		ps, _ := exec.Command("ps", "-s", strconv.Itoa(cmd.Process.Pid), "-o", "pid,ppid,pgid,tpgid,stat,pending,blocked,ignored,caught,wchan:24,args").CombinedOutput()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("the shell did not end; the terminal showed:\n%s\nits session:\n%s", shown(), ps)
	}
	// The master reads EIO once the last holder of the terminal is gone.
	select {
	case <-readDone:
	case <-time.After(5 * time.Second):
	}
	return strings.ReplaceAll(shown(), "\r\n", "\n")
}

// fgCheck prints WHO:fg if the shell running it is in the foreground
// process group of its terminal, WHO:bg otherwise.
const fgCheck = `read -r pid comm st pp pg sid tty tpg rest < /proc/$$/stat; [ "$pg" = "$tpg" ] && echo %s:fg || echo %s:bg`

func fg(who string) string { return strings.ReplaceAll(fgCheck, "%s", who) }

// TestPspawnWaitTerminal: pspawn -w gives the terminal's foreground to the
// job's process group while it runs and takes it back after; keys typed
// at the terminal reach the job: ^C ends it (pspawn exits 130), ^Z stops
// it and pspawn with it, as a shell's job, and fg continues both.
func TestPspawnWaitTerminal(t *testing.T) {
	t.Run("foreground", func(t *testing.T) {
		out := ptyShell(t, `pspawn -w -- sh -c '`+strings.ReplaceAll(fg("job"), "'", `'\''`)+`'; `+fg("after"), nil)
		if !strings.Contains(out, "job:fg\n") || !strings.Contains(out, "after:fg\n") {
			t.Errorf("want job:fg and after:fg; the terminal showed:\n%s", out)
		}
	})
	t.Run("interrupt", func(t *testing.T) {
		// The trap, set before "ready", takes a ^C that comes before the
		// shell runs sleep (a shell waiting for no child would drop it).
		out := ptyShell(t, `pspawn -w -- sh -c 'trap "echo got-int; exit 130" INT; echo ready; while :; do sleep 0.05; done'; echo rc=$?`, func(await func(string), key func(string)) {
			await("ready")
			key("\x03")
		})
		if !strings.Contains(out, "got-int\nrc=130\n") {
			t.Errorf("want rc=130 after ^C; the terminal showed:\n%s", out)
		}
	})
	t.Run("pipeline", func(t *testing.T) {
		// The reader of the terminal beside pspawn in a pipeline waits
		// while the job has the terminal, and goes on after. (set -m: in
		// an orphaned process group it would get EIO instead of waiting.)
		script := `set -m; pspawn -w -- sh -c 'sleep 0.3; echo job-done > /dev/tty; echo piped' | sh -c 'echo "sib:$(head -n 1 /dev/tty)"; cat'; echo rc=$?`
		out := ptyShell(t, script, func(await func(string), key func(string)) {
			await("job-done")
			key("hi\n")
		})
		if !strings.Contains(out, "sib:hi\npiped\nrc=0\n") {
			t.Errorf("want sib:hi, piped, rc=0; the terminal showed:\n%s", out)
		}
	})
	t.Run("stop", func(t *testing.T) {
		// set -m: the shell does job control, as an interactive one does.
		script := `set -m; pspawn -w -- sh -c 'echo ready; read line; echo "read $line"; exit 3'; echo stopped rc=$?; fg; echo fg rc=$?`
		out := ptyShell(t, script, func(await func(string), key func(string)) {
			await("ready")
			key("\x1a")
			await("stopped rc=")
			key("hello\n")
		})
		for _, want := range []string{"stopped rc=148\n", "read hello\n", "fg rc=3\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q; the terminal showed:\n%s", want, out)
			}
		}
	})
	t.Run("bg", func(t *testing.T) {
		// Continued in the background, the job runs on without the
		// terminal, and its end does not take the terminal from the shell.
		// The job forks nothing once ^Z may come: a ^Z between a shell's
		// vfork and the child's exec leaves the shell blocked and the child
		// stopped, and no one sees the job stop (a shell's job as well).
		script := `set -m; pspawn -w -- sh -c 'echo ready; read line; echo got-line; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo job-done'; echo stopped; bg; wait; ` + fg("after")
		out := ptyShell(t, script, func(await func(string), key func(string)) {
			await("ready")
			key("x\n")
			await("got-line")
			key("\x1a")
		})
		for _, want := range []string{"stopped\n", "job-done\n", "after:fg\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q; the terminal showed:\n%s", want, out)
			}
		}
	})
}
