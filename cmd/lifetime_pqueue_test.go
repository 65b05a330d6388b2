package cmd_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pqueueTrialItems is how many items a pqueue kill trial puts; each is
// pqueueItemSize bytes, more than a pipe holds by default.
const (
	pqueueTrialItems = 4
	pqueueItemSize   = 100 << 10
)

// pqueueWork is the command of a trial's workers: it checks that its
// stdin is the whole item ("KEY LENGTH PAYLOAD", LENGTH the payload's),
// writing a line to violations if not, then holds the item's key in the
// overlap detector for a while.
func pqueueWork(dir string) string {
	check := fmt.Sprintf(`in=$(cat); key=${in%%%% *}; rest=${in#* }; want=${rest%%%% *}; payload=${rest#* }; `+
		`[ "${#payload}" = "$want" ] || echo "partial item: key $key, $want bytes wanted, ${#payload} given" >> %s; `,
		filepath.Join(dir, "violations"))
	return check + holdScript(filepath.Join(dir, "events"), "$key", 15, false)
}

// pqueueTrial is a kill trial of `pqueue get -x` (with args before the
// queue's name), with a second worker running beside it from the start,
// which takes what the first leaves, its interrupted item included: an
// item must never be worked on by both at once (even while the first
// one's orphaned command is being stopped), no command may start with
// part of its item, and every item must be done in the end.
func pqueueTrial(t *testing.T, bin string, args ...string) lifeTrial {
	env := func(dir string) []string {
		return append(os.Environ(), "PKIT_DIR="+filepath.Join(dir, ".pkit"),
			"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0")
	}
	pqueue := func(dir string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, "pqueue"), args...)
		cmd.Dir, cmd.Env = dir, env(dir)
		return cmd
	}
	return lifeTrial{
		tool: "pqueue",
		args: func(dir string) []string {
			return append(append([]string{"get", "-x", "--grace", "0.3"}, args...), "q", "--", "sh", "-c", pqueueWork(dir))
		},
		setup: func(t *testing.T, dir string) {
			var items []string
			for i := range pqueueTrialItems {
				items = append(items, fmt.Sprintf("k%d %d %s", i, pqueueItemSize, strings.Repeat(string(rune('a'+i)), pqueueItemSize)))
			}
			put := pqueue(dir, "put", "q")
			put.Stdin = strings.NewReader(strings.Join(items, "\n") + "\n")
			if out, err := put.CombinedOutput(); err != nil {
				t.Fatalf("put: %v: %s", err, out)
			}
			second := pqueue(dir, "get", "-x", "-f", "--grace", "0.3", "q", "--", "sh", "-c", pqueueWork(dir))
			second.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := second.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				syscall.Kill(second.Process.Pid, syscall.SIGTERM)
				waitTimeout(second, 10*time.Second)
			})
		},
		grace: 300 * time.Millisecond,
		delay: 800 * time.Millisecond,
		check: func(t *testing.T, dir string) any {
			join := pqueue(dir, "join", "--timeout", "15", "q")
			if out, err := join.CombinedOutput(); err != nil {
				size, _ := pqueue(dir, "size", "--json", "q").CombinedOutput()
				events, _ := os.ReadFile(filepath.Join(dir, "events"))
				return fmt.Sprintf("join: %v: %s\nsize: %s\nevents:\n%s", err, out, size, events)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "violations")); err == nil {
				return string(b)
			}
			if v := overlaps(filepath.Join(dir, "events")); v != nil {
				return v
			}
			events, _ := os.ReadFile(filepath.Join(dir, "events"))
			for i := range pqueueTrialItems {
				if !strings.Contains(string(events), fmt.Sprintf("k%d ", i)) || !hasEnd(string(events), fmt.Sprintf("k%d", i)) {
					return fmt.Sprintf("item k%d never finished:\n%s", i, events)
				}
			}
			return nil
		},
	}
}

// hasEnd reports whether the overlap detector's events show key's work
// ending.
func hasEnd(events, key string) bool {
	for _, line := range strings.Split(events, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == key && f[2] == "end" {
			return true
		}
	}
	return false
}

// waitTimeout waits for cmd, killing its process group if it takes longer
// than d.
func waitTimeout(cmd *exec.Cmd, d time.Duration) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func TestLifetimePqueueExec(t *testing.T) {
	runLifeTrials(t, pqueueTrial(t, toolBin(t)))
}

func TestLifetimePqueueExecFollow(t *testing.T) {
	runLifeTrials(t, pqueueTrial(t, toolBin(t), "-f"))
}
