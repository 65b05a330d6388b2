package cmd_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ppoolTrialItems is how many items a ppool kill trial runs, -j2 at a
// time; each job holds its item in the overlap detector for a while.
const ppoolTrialItems = 6

func ppoolHold(dir string) string {
	return holdScript(filepath.Join(dir, "events"), "$1", 15, false)
}

func ppoolTrialArgs(dir string, flags ...string) []string {
	args := append([]string{"-j2", "--grace", "0.3", "--joblog", filepath.Join(dir, "j.log")}, flags...)
	args = append(args, "sh", "-c", ppoolHold(dir), "x", ":::")
	for i := range ppoolTrialItems {
		args = append(args, "i"+strconv.Itoa(i))
	}
	return args
}

// ppoolJoblogHonest checks the joblog after a trial: no item twice, and
// for a run stopped by a signal it caught, every item that did not
// succeed logged (a job stopped, or an item not run with exit value -1).
func ppoolJoblogHonest(dir string) any {
	b, err := os.ReadFile(filepath.Join(dir, "j.log"))
	if err != nil {
		return nil // killed before it opened the log
	}
	seen, stopped := map[string]bool{}, false
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 9 {
			continue // the last line of a log cut by SIGKILL
		}
		if seen[f[0]] {
			return fmt.Sprintf("seq %s logged twice:\n%s", f[0], b)
		}
		seen[f[0]] = true
		stopped = stopped || f[6] == "-1"
	}
	// Items not run are logged once ppool is stopped by a signal it
	// catches; then every item is in the log, run or not.
	if stopped && len(seen) != ppoolTrialItems {
		return fmt.Sprintf("stopped by a signal, but %d of %d items logged:\n%s", len(seen), ppoolTrialItems, b)
	}
	return nil
}

func TestLifetimePpool(t *testing.T) {
	runLifeTrials(t, lifeTrial{
		tool:  "ppool",
		args:  func(dir string) []string { return ppoolTrialArgs(dir) },
		grace: 300 * time.Millisecond,
		delay: 800 * time.Millisecond,
		check: func(t *testing.T, dir string) any { return ppoolJoblogHonest(dir) },
	})
}

func TestLifetimePpoolKeepOrder(t *testing.T) {
	runLifeTrials(t, lifeTrial{
		tool:  "ppool",
		args:  func(dir string) []string { return ppoolTrialArgs(dir, "-k") },
		grace: 300 * time.Millisecond,
		delay: 800 * time.Millisecond,
		check: func(t *testing.T, dir string) any { return ppoolJoblogHonest(dir) },
	})
}

// TestLifetimePpoolQueue kills a ppool --queue while a second one works on
// the same local queue beside it from the start and takes what the first
// leaves: an item is never worked on by both at once (even while the
// first one's orphaned job is being stopped), and every item is done in
// the end, none lost.
func TestLifetimePpoolQueue(t *testing.T) {
	bin := toolBin(t)
	tool := func(dir, name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PKIT_DIR="+filepath.Join(dir, ".pkit"),
			"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0")
		return cmd
	}
	runLifeTrials(t, lifeTrial{
		tool: "ppool",
		args: func(dir string) []string {
			return []string{"-j2", "--grace", "0.3", "--queue", "q", "sh", "-c", ppoolHold(dir), "x"}
		},
		setup: func(t *testing.T, dir string) {
			put := tool(dir, "pqueue", "put", "q")
			var items []string
			for i := range ppoolTrialItems {
				items = append(items, "i"+strconv.Itoa(i))
			}
			put.Stdin = strings.NewReader(strings.Join(items, "\n") + "\n")
			if out, err := put.CombinedOutput(); err != nil {
				t.Fatalf("put: %v: %s", err, out)
			}
			second := tool(dir, "ppool", "-j2", "-f", "--grace", "0.3", "--queue", "q", "sh", "-c", ppoolHold(dir), "x")
			second.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := second.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				syscall.Kill(second.Process.Pid, syscall.SIGTERM)
				done := make(chan struct{})
				go func() { second.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					syscall.Kill(-second.Process.Pid, syscall.SIGKILL)
					<-done
				}
			})
		},
		grace: 300 * time.Millisecond,
		delay: 800 * time.Millisecond,
		check: func(t *testing.T, dir string) any {
			// Every item ends (the second worker finishes what the first
			// left), within a bound.
			events := filepath.Join(dir, "events")
			for deadline := time.Now().Add(30 * time.Second); !ppoolAllEnded(events); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					b, _ := os.ReadFile(events)
					return fmt.Sprintf("not every item ended within 30s:\n%s", b)
				}
			}
			if v := overlaps(filepath.Join(dir, "events")); v != nil {
				return v
			}
			// The last job's end is in the events before its worker has
			// acknowledged it: wait for the acknowledgement, within a bound.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				out, err := tool(dir, "pqueue", "size", "--json", "q").Output()
				if err != nil {
					return fmt.Sprintf("size: %v", err)
				}
				var st struct{ Ready, Leased, Done int }
				if err := json.Unmarshal(out, &st); err != nil {
					return fmt.Sprintf("size: %v: %s", err, out)
				}
				if st.Done == ppoolTrialItems && st.Ready == 0 && st.Leased == 0 {
					return nil
				}
				if time.Now().After(deadline) {
					return fmt.Sprintf("10s after the trial, want %d items done and none left: %s", ppoolTrialItems, out)
				}
			}
		},
	})
}

// ppoolAllEnded reports whether the overlap detector's events show every
// trial item's work ending.
func ppoolAllEnded(events string) bool {
	b, _ := os.ReadFile(events)
	ended := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[2] == "end" {
			ended[f[0]] = true
		}
	}
	for i := range ppoolTrialItems {
		if !ended["i"+strconv.Itoa(i)] {
			return false
		}
	}
	return true
}

// TestLifetimePpoolListen kills a ppool --listen while a client is
// connected: the handler, and what it started, must not keep the
// connection open; the client sees its end within the grace period plus
// a second.
func TestLifetimePpoolListen(t *testing.T) {
	type client struct {
		seen chan string   // what the client saw
		gone chan struct{} // closed once the server has ended
	}
	clients := map[string]client{} // by trial dir
	runLifeTrials(t, lifeTrial{
		tool: "ppool",
		args: func(dir string) []string {
			// The handler's children live 50 ms at most: one forked before
			// the watchdog has started is the known gap of pkg/lifetime.
			return []string{"--listen", "127.0.0.1:0", "--ready", filepath.Join(dir, "addr"), "--grace", "0.3",
				"sh", "-c", "echo hello; while :; do sleep 0.05; done"}
		},
		setup: func(t *testing.T, dir string) {
			c := client{seen: make(chan string, 1), gone: make(chan struct{})}
			clients[dir] = c
			go func() { c.seen <- ppoolListenClient(filepath.Join(dir, "addr"), c.gone) }()
		},
		grace: 300 * time.Millisecond,
		delay: 800 * time.Millisecond,
		check: func(t *testing.T, dir string) any {
			c := clients[dir]
			close(c.gone)
			select {
			case got := <-c.seen:
				if got == "closed" || got == "not connected" {
					return nil
				}
				return got
			case <-time.After(1300 * time.Millisecond):
				return "the client's connection is still open after the server and its handlers ended"
			}
		},
	})
}

// ppoolListenClient connects to the server whose address appears in
// addrFile, reads the handler's greeting and then waits for the end of
// the connection: "closed", "not connected" if the server ended (gone)
// before it listened, or what went wrong.
func ppoolListenClient(addrFile string, gone <-chan struct{}) string {
	var addr []byte
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && len(b) > 0 {
			addr = b
			break
		}
		select {
		case <-gone:
			return "not connected"
		case <-time.After(5 * time.Millisecond):
		}
	}
	c, err := net.DialTimeout("tcp", strings.TrimSpace(string(addr)), 5*time.Second)
	if err != nil {
		return "not connected"
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		return "closed" // the server stopped before the handler spoke
	}
	if _, err := r.ReadByte(); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return "still open after 30s"
		}
		return "closed"
	}
	return "the handler sent more than its greeting"
}
