package proc

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAllIncludesSelfAndParent(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	var self, parent bool
	for _, s := range all {
		self = self || s.PID == os.Getpid()
		parent = parent || s.PID == os.Getppid()
	}
	if !self || !parent {
		t.Errorf("All() (%d processes) misses this process (%v) or its parent (%v)", len(all), self, parent)
	}
}

func TestThreadsOfSelf(t *testing.T) {
	threads, err := Threads(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(threads) < 2 || !slices.ContainsFunc(threads, func(s Stat) bool { return s.PID == os.Getpid() }) {
		t.Errorf("a Go test has several threads, the main one with TID = PID; got %d", len(threads))
	}
}

func TestCmdlineAndUIDOfSelf(t *testing.T) {
	argv, err := Cmdline(os.Getpid())
	if err != nil || !slices.Equal(argv, os.Args) {
		t.Errorf("Cmdline = %q, %v; want %q", argv, err, os.Args)
	}
	if uid, err := UID(os.Getpid()); err != nil || uid != os.Geteuid() {
		t.Errorf("UID = %d, %v; want %d", uid, err, os.Geteuid())
	}
}

func TestGoneProcess(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	pid := cmd.Process.Pid // reaped: gone unless the PID was reused at once
	if _, err := ReadStat(pid); err == nil {
		t.Skip("PID reused")
	}
	if _, err := Cmdline(pid); err == nil {
		t.Error("Cmdline of a gone process: want an error")
	}
	if uid, err := UID(pid); err == nil || uid != -1 {
		t.Errorf("UID of a gone process = %d, %v", uid, err)
	}
}

func TestZombie(t *testing.T) {
	// sh forks "sleep 0.2" and execs into "sleep 5", which never waits: a
	// zombie (the child outlives sh, which could otherwise reap it first).
	cmd := exec.Command("sh", "-c", "sleep 0.2 & echo $!; exec sleep 5")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	buf := make([]byte, 32)
	n, _ := out.Read(buf)
	var zpid int
	for _, c := range strings.TrimSpace(string(buf[:n])) {
		zpid = zpid*10 + int(c-'0')
	}
	var s Stat
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if s, err = ReadStat(zpid); err == nil && s.State == 'Z' {
			break
		}
	}
	if s.State != 'Z' || s.PPID != cmd.Process.Pid {
		t.Fatalf("child %d: state %c ppid %d, want Z under %d", zpid, s.State, s.PPID, cmd.Process.Pid)
	}
	if !s.HasExit || s.ExitCode != 0 {
		t.Errorf("exit code %d (reported %v), want 0", s.ExitCode, s.HasExit)
	}
	if argv, err := Cmdline(zpid); err != nil || len(argv) != 0 {
		t.Errorf("a zombie's command line = %q, %v; want empty", argv, err)
	}
	// The two clocks compared are those of the CPUs each task last ran
	// on, which may lag one another on a loaded VM (steal time): the
	// zombie's age must reach 40 ms within a second, not at once.
	var d time.Duration
	for deadline := time.Now().Add(time.Second); ; {
		time.Sleep(50 * time.Millisecond)
		if d, err = SinceLastRun(zpid); err != nil {
			t.Skipf("no scheduler clock: %v", err)
		}
		if d >= 40*time.Millisecond || time.Now().After(deadline) {
			break
		}
	}
	if d < 40*time.Millisecond || d > 5*time.Second {
		t.Errorf("zombie for %v, want about 50ms or more", d)
	}
}

func TestReadClock(t *testing.T) {
	c, err := ReadClock()
	if err != nil {
		t.Fatal(err)
	}
	if c.Hz != 100 || c.Uptime <= 0 || c.Boot.After(c.Now) {
		t.Errorf("clock %+v", c)
	}
	self, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if el := c.Elapsed(self); el < 0 || el > time.Hour {
		t.Errorf("this test started %v ago", el)
	}
}

// TestAllWhileProcessesExit scans while processes start and exit: the ones
// that vanish between listing /proc and reading their stat are skipped
// silently, never an error.
func TestAllWhileProcessesExit(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			exec.Command("true").Run()
		}
	}()
	for scans := 0; ; scans++ {
		select {
		case <-done:
			if scans == 0 {
				t.Log("no scan overlapped the churn")
			}
			return
		default:
		}
		all, err := All()
		if err != nil {
			t.Fatalf("scan %d: %v", scans, err)
		}
		for _, s := range all {
			if s.PID <= 0 || s.State == 0 {
				t.Fatalf("scan %d: bad entry %+v", scans, s)
			}
		}
	}
}
