package ptree

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/proc"
	"github.com/pkit-sh/pkit/pkg/reexec"
)

func TestMain(m *testing.M) {
	reexec.Main(m, map[string]func([]string) int{"busy": busy, "writer": pacedWriter})
}

// busy spins until killed.
func busy([]string) int {
	os.Stdout.WriteString("ready\n")
	for {
	}
}

// pacedWriter (args: FILE) writes 1 MiB to FILE every 100 ms, on a
// schedule kept against the clock, until killed.
func pacedWriter(args []string) int {
	f, err := os.Create(args[0])
	if err != nil {
		return 3
	}
	chunk := make([]byte, 1<<20)
	next := time.Now()
	os.Stdout.WriteString("ready\n")
	for {
		if _, err := f.Write(chunk); err != nil {
			return 4
		}
		next = next.Add(100 * time.Millisecond)
		time.Sleep(time.Until(next))
	}
}

// TestWriteRate: a process writing 10 MiB/s to a file shows write_bps
// within 30% of that, measured over ptree's one-second interval.
func TestWriteRate(t *testing.T) {
	dir := t.TempDir()
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err != nil || fs.Type == unix.TMPFS_MAGIC {
		t.Skipf("%s is on tmpfs, whose writes the kernel does not count as storage I/O", dir)
	}
	cmd := helper(t, "writer", dir+"/out")
	if _, err := proc.ReadIO(cmd.Process.Pid); err != nil {
		t.Skipf("no I/O accounting here: %v", err)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	out, code := run(t, &CLI{Targets: []string{pid}, Fields: "pid,write_bps,read_bps", Interval: cli.Duration(time.Second)})
	f := strings.Fields(out)
	if code != 0 || len(f) != 3 || f[0] != pid {
		t.Fatalf("exit %d, output %q", code, out)
	}
	const want = 10 << 20
	bps, err := strconv.ParseFloat(f[1], 64)
	if err != nil || bps < want*0.7 || bps > want*1.3 {
		t.Errorf("write_bps %s, want %d ± 30%%", f[1], want)
	}
}

// TestCPUBusy: a busy loop comes first in --sort -%cpu with the share of
// a core it really had over the interval (within 30% of its CPU time
// around ptree's run, and at least 50 when it had 60 or more: a loaded
// machine gives it less), and a sleeping process shows about 0.
func TestCPUBusy(t *testing.T) {
	spinner := helper(t, "busy")
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	ticks := func() (uint64, time.Time) {
		s, err := proc.ReadStat(spinner.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		return s.UTime + s.STime, time.Now()
	}
	t0, start := ticks()
	b, s := strconv.Itoa(spinner.Process.Pid), strconv.Itoa(sleeper.Process.Pid)
	out, code := run(t, &CLI{Targets: []string{s, b}, Fields: "pid,%cpu", Sort: "-%cpu", Interval: cli.Duration(time.Second)})
	t1, end := ticks()
	clock, _ := proc.ReadClock()
	real := 100 * float64(t1-t0) / float64(clock.Hz) / end.Sub(start).Seconds()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("exit %d, output %q", code, out)
	}
	first, second := strings.Fields(lines[0]), strings.Fields(lines[1])
	if first[0] != b || second[0] != s {
		t.Fatalf("busy loop %s not first:\n%s", b, out)
	}
	got, _ := strconv.ParseFloat(first[1], 64)
	idle, _ := strconv.ParseFloat(second[1], 64)
	t.Logf("busy loop: %%cpu %.1f by ptree, %.1f around its run; sleeper %.1f", got, real, idle)
	if got < real*0.7 || got > real*1.3+5 || real >= 60 && got < 50 {
		t.Errorf("busy loop %%cpu %.1f, had %.1f around ptree's run", got, real)
	}
	if idle > 2 {
		t.Errorf("sleeping process %%cpu %.1f", idle)
	}
}

// helper starts the test binary in role and waits until it says it is
// ready; it is killed when the test ends.
func helper(t *testing.T, role string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := reexec.Command(role, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("helper %s: %q, %v", role, line, err)
	}
	return cmd
}
