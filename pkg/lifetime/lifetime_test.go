package lifetime

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/reexec"
)

func TestMain(m *testing.M) {
	reexec.Main(m, map[string]func([]string) int{"tool": fakeTool})
}

// fakeTool acts as a tool that starts the script in args[0] as a job,
// prints the job's group and its watchdog's PID and then waits to be
// killed. With args[1], that many groups that cannot exist (past the
// largest PID) come and go first.
func fakeTool(args []string) int {
	g := New(300 * time.Millisecond)
	if len(args) > 1 {
		n, _ := strconv.Atoi(args[1])
		for i := range n {
			pgid := 1<<22 + 1 + i
			if err := g.Add(pgid); err != nil {
				return 1
			}
			g.Ended(pgid)
		}
	}
	cmd := exec.Command("sh", "-c", args[0])
	cmd.SysProcAttr = Attr()
	if err := cmd.Start(); err != nil {
		return 1
	}
	if err := g.Add(cmd.Process.Pid); err != nil {
		return 1
	}
	os.Stdout.WriteString(strconv.Itoa(cmd.Process.Pid) + " " + strconv.Itoa(g.watchdog) + "\n")
	select {}
}

// startTool runs the fake tool and returns it with its job's group and its
// watchdog's PID.
func startTool(t *testing.T, args ...string) (tool *exec.Cmd, pgid, watchdog int) {
	t.Helper()
	tool = reexec.Command("tool", args...)
	out, err := tool.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tool.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tool.Process.Kill(); tool.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("fake tool: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		t.Fatalf("fake tool printed %q", line)
	}
	pgid, _ = strconv.Atoi(f[0])
	watchdog, _ = strconv.Atoi(f[1])
	t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	return tool, pgid, watchdog
}

func awaitGroupGone(t *testing.T, pgid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !Gone(pgid) {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has members %v after the tool died", pgid, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKilledToolTakesItsJobsWithIt(t *testing.T) {
	cases := map[string]string{
		"children":      "sleep 60 & sleep 60 & wait",
		"grandchildren": "sh -c 'sleep 60 & wait' & wait",
		"ignores TERM":  "trap '' TERM; sleep 60 & wait",
		"stopped":       "sleep 60 & kill -STOP $$; wait",
	}
	for name, script := range cases {
		t.Run(name, func(t *testing.T) {
			tool, pgid, watchdog := startTool(t, script)
			if Gone(pgid) {
				t.Fatal("the job's group is empty before the kill")
			}
			tool.Process.Kill()
			tool.Wait()
			awaitGroupGone(t, pgid, 300*time.Millisecond+5*time.Second)
			// The watchdog has done its work and exits (its session is
			// its own group, so Gone tells whether it still lives).
			awaitGroupGone(t, watchdog, 5*time.Second)
		})
	}
}

// TestKilledToolAfterManyGroups: the watchdog, which reads its pipe only
// now and then, loses no group when the tool writes more than the pipe
// holds between two reads.
func TestKilledToolAfterManyGroups(t *testing.T) {
	tool, pgid, watchdog := startTool(t, "sleep 60 & wait", "20000")
	tool.Process.Kill()
	tool.Wait()
	awaitGroupGone(t, pgid, 300*time.Millisecond+5*time.Second)
	awaitGroupGone(t, watchdog, 5*time.Second)
}

func TestCloseStopsStragglers(t *testing.T) {
	g := New(200 * time.Millisecond)
	cmd := exec.Command("sh", "-c", "sleep 60 >/dev/null 2>&1 & exit 0")
	cmd.SysProcAttr = Attr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	if err := g.Add(pgid); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	g.Ended(pgid)
	if Gone(pgid) {
		t.Fatal("the straggler is gone before Close")
	}
	g.Close()
	if !Gone(pgid) {
		t.Fatal("Close left the straggler running")
	}
	if wd := g.watchdog; wd != 0 && syscall.Kill(wd, 0) == nil {
		t.Fatalf("watchdog %d still runs after Close", wd)
	}
}

// runTrue runs true as a job of g until it has ended.
func runTrue(t *testing.T, g *Groups) {
	t.Helper()
	cmd := exec.Command("true")
	cmd.SysProcAttr = Attr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	g.Ended(cmd.Process.Pid)
}

// noChildLeft fails t if this process has a child, running or a zombie.
func noChildLeft(t *testing.T) {
	t.Helper()
	var ws syscall.WaitStatus
	if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); err != syscall.ECHILD {
		t.Fatalf("a child is left after Close: wait4 = %d, %v", pid, err)
	}
}

func TestEndedForgetsEmptyGroups(t *testing.T) {
	g := New(time.Second)
	defer g.Close()
	runTrue(t, g)
	g.mu.Lock()
	n := len(g.live)
	g.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d groups left after the only job ended", n)
	}
}

func TestNoWorkNoWatchdog(t *testing.T) {
	g := New(time.Second)
	g.Close()
	if g.watchdog != 0 {
		t.Fatal("a watchdog started for a tool that started no job")
	}
}

func TestPrepareStartsOneWatchdog(t *testing.T) {
	g := New(time.Second)
	g.Prepare()
	g.Prepare()
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	wd := g.Watchdog()
	if wd == 0 {
		t.Fatal("no watchdog after Start")
	}
	runTrue(t, g)
	if got := g.Watchdog(); got != wd {
		t.Fatalf("watchdog %d replaced by %d", wd, got)
	}
	g.Close()
	noChildLeft(t)
}

func TestPrepareThenCloseLeavesNothing(t *testing.T) {
	g := New(time.Second)
	g.Prepare()
	g.Close()
	// Whether the background start came before Close (which then ended
	// the watchdog) or not, none starts from now on.
	if err := g.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	noChildLeft(t)
}
