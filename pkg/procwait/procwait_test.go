package procwait

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want syscall.Signal
	}{{"TERM", syscall.SIGTERM}, {"sigkill", syscall.SIGKILL}, {"SIGINT", syscall.SIGINT}, {"1", syscall.SIGHUP}} {
		if got, err := ParseSignal(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseSignal(%q) = %v, %v", tc.in, got, err)
		}
	}
	for _, bad := range []string{"", "NOPE", "0", "99", "-1"} {
		if _, err := ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q): want an error", bad)
		}
	}
	if SignalName(syscall.SIGTERM) != "TERM" {
		t.Errorf("SignalName(TERM) = %q", SignalName(syscall.SIGTERM))
	}
}

func TestStatusForms(t *testing.T) {
	// exit 3 is 3<<8 as a wait status; SIGTERM is 15.
	if s := FromWait(3 << 8); s.Python() != 3 || s.Shell() != 3 {
		t.Errorf("exit 3: %+v", s)
	}
	if s := FromWait(15); s.Python() != -15 || s.Shell() != 143 {
		t.Errorf("SIGTERM: %+v", s)
	}
}

// TestWaitChild waits for a child with a pidfd: Wait returns when it ends,
// not before, and a zero timeout does not block.
func TestWaitChild(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 0.2; exit 7")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	p, err := Open(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if ready, err := Wait([]*Proc{p}, 0); err != nil || len(ready) != 0 {
		t.Fatalf("Wait(0) on a running process = %v, %v", ready, err)
	}
	start := time.Now()
	ready, err := Wait([]*Proc{p}, 5*time.Second)
	if err != nil || len(ready) != 1 {
		t.Fatalf("Wait = %v, %v", ready, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("returned after %v, before the exit", d)
	}
	// Still our unreaped zombie: the status comes from /proc/PID/stat.
	if st := p.Status(0); !st.Known || st.Code != 7 {
		t.Errorf("Status = %+v, want exit 7", st)
	}
}

func TestOpenGone(t *testing.T) {
	if _, err := Open(1 << 22); !errors.Is(err, ErrGone) {
		t.Errorf("Open(no such pid) = %v, want ErrGone", err)
	}
}

func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"TERM", "SIGKILL", "9", "", "SIG", "64", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if sig, err := ParseSignal(s); err == nil && (sig <= 0 || sig > 64) {
			t.Fatalf("ParseSignal(%q) = %d", s, sig)
		}
	})
}
