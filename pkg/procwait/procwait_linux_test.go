package procwait

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func start(t *testing.T, script string) (*exec.Cmd, *Proc) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p, err := Open(cmd.Process.Pid)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, p
}

// TestWaitAny: Wait on several returns the one that ended, and a timeout
// returns nothing after about that long.
func TestWaitAny(t *testing.T) {
	_, quick := start(t, "sleep 0.1; exit 3")
	_, slow := start(t, "exec sleep 30")
	ready, err := Wait([]*Proc{slow, quick}, 10*time.Second)
	if err != nil || len(ready) != 1 || ready[0] != 1 {
		t.Fatalf("Wait = %v, %v; want [1]", ready, err)
	}
	begin := time.Now()
	ready, err = Wait([]*Proc{slow}, 150*time.Millisecond)
	if err != nil || len(ready) != 0 {
		t.Fatalf("Wait(slow, 150ms) = %v, %v; want a timeout", ready, err)
	}
	if d := time.Since(begin); d < 150*time.Millisecond || d > 5*time.Second {
		t.Errorf("timed out after %v, want 150ms", d)
	}
	if st := quick.Status(0); !st.Known || st.Code != 3 {
		t.Errorf("Status = %+v, want exit 3", st)
	}
}

// TestWaitNoLeak: repeated waits leave at most one descriptor behind (the
// epoll instance of the last, closed by the next).
func TestWaitNoLeak(t *testing.T) {
	_, slow := start(t, "exec sleep 30")
	count := func() int {
		d, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(d)
	}
	Wait([]*Proc{slow}, time.Millisecond)
	before := count()
	for range 50 {
		if ready, err := Wait([]*Proc{slow}, time.Millisecond); err != nil || len(ready) != 0 {
			t.Fatalf("Wait = %v, %v", ready, err)
		}
	}
	if after := count(); after > before {
		t.Errorf("%d descriptors after 50 waits, %d before", after, before)
	}
}

// TestReadStatKept: the stat file stays bound to the process: it shows the
// zombie's exit code, and fails once the process is reaped, whoever gets
// its PID next.
func TestReadStatKept(t *testing.T) {
	cmd, p := start(t, "sleep 0.1; exit 5")
	st, err := p.ReadStat()
	if err != nil || st.PID != cmd.Process.Pid {
		t.Fatalf("ReadStat = %+v, %v", st, err)
	}
	if _, err := Wait([]*Proc{p}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err = p.ReadStat()
	if err != nil || st.State != 'Z' || !st.HasExit || st.ExitCode != 5<<8 {
		t.Fatalf("ReadStat of the zombie = %+v, %v; want Z, exit 5", st, err)
	}
	cmd.Wait()
	if st, err := p.ReadStat(); err == nil {
		t.Errorf("ReadStat after the reap = %+v, want an error", st)
	}
}
