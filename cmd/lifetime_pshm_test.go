package cmd_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pshmContenders runs pshm calls beside a kill trial: they queue for the
// lock or slots the trial's pshm holds, so that its death is recovered
// while they wait, and their sections go into the same events file.
type pshmContenders struct {
	bin string // toolBin

	mu    sync.Mutex
	procs map[string][]*contender // trial directory -> contenders
	out   map[string]*lockedBuffer
	names map[string]string
}

// contender is one pshm call beside a trial; ended gets its end.
type contender struct {
	argv  []string
	pgid  int
	ended chan error
}

// lockedBuffer is the output of several contenders at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// pshm returns a pshm command run in dir with the tools on PATH; its
// group is its own, so that the cleanup can end whatever it left.
func (c *pshmContenders) pshm(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "pshm"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+c.bin+string(os.PathListSeparator)+os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// start starts contenders in dir, each after a short wait so that the
// trial's pshm usually takes the lock first.
func (c *pshmContenders) start(t *testing.T, dir string, argvs ...[]string) {
	buf := &lockedBuffer{}
	c.mu.Lock()
	c.out[dir] = buf
	c.mu.Unlock()
	for _, argv := range argvs {
		cmd := c.pshm(context.Background(), dir, argv...)
		cmd.Stdout, cmd.Stderr = buf, buf
		// exec'd through sh for the wait, so the group is the contender's
		cmd.Path, cmd.Args = "/bin/sh", append([]string{"sh", "-c", `sleep 0.05; exec pshm "$@"`, "sh"}, argv...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ct := &contender{argv: argv, pgid: cmd.Process.Pid, ended: make(chan error, 1)}
		go func() { ct.ended <- cmd.Wait() }()
		// A contender that is still running (the trial failed) is killed
		// with its group, which it leads until it is reaped.
		t.Cleanup(func() {
			select {
			case err := <-ct.ended:
				ct.ended <- err
			default:
				syscall.Kill(-ct.pgid, syscall.SIGKILL)
				<-ct.ended
			}
		})
		c.mu.Lock()
		c.procs[dir] = append(c.procs[dir], ct)
		c.mu.Unlock()
	}
}

// wait waits for dir's contenders and returns a violation if one failed or
// did not end within 30 s.
func (c *pshmContenders) wait(dir string) any {
	c.mu.Lock()
	procs, buf := c.procs[dir], c.out[dir]
	c.mu.Unlock()
	for _, ct := range procs {
		select {
		case err := <-ct.ended:
			ct.ended <- err // for the cleanup
			if err != nil {
				return fmt.Sprintf("contender %v: %v; its output:\n%s", ct.argv, err, buf)
			}
		case <-time.After(30 * time.Second):
			return fmt.Sprintf("contender %v did not end within 30 s; its output:\n%s", ct.argv, buf)
		}
	}
	return nil
}

// run runs pshm args in dir to the end (10 s at most) and returns a
// violation if it fails.
func (c *pshmContenders) run(dir string, args ...string) any {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.pshm(ctx, dir, args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("pshm %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func newContenders(t *testing.T) *pshmContenders {
	// Objects of the trials stay out of /dev/shm; each trial has its own
	// names.
	t.Setenv("PKIT_SHM_DIR", t.TempDir())
	return &pshmContenders{bin: toolBin(t), procs: map[string][]*contender{}, out: map[string]*lockedBuffer{}, names: map[string]string{}}
}

// name is the name of the trial's object: each trial (directory) has its
// own, so that one trial's leftovers cannot affect the next.
func (c *pshmContenders) name(prefix, dir string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.names[dir]
	if !ok {
		n = prefix + strconv.Itoa(len(c.names))
		c.names[dir] = n
	}
	return n
}

// lingering runs the section ($1) in a child of the group's leader: the
// leader dies with pshm at once (its parent-death signal is KILL), and
// the child, told to stop by the watchdog, lingers in the section, which
// a waiter must not enter until the group is gone.
const lingering = `sh -c "$1"; true`

// TestLifetimePshmLock: pshm lock L -- CMD killed (KILL, TERM, HUP, INT) at
// a random instant while another pshm waits for L: nothing of its
// command survives its grace, the waiter never runs while the killed
// holder's command is still inside, and the lock is free afterwards.
func TestLifetimePshmLock(t *testing.T) {
	c := newContenders(t)
	runLifeTrials(t, lifeTrial{
		tool: "pshm",
		args: func(dir string) []string {
			return []string{"lock", "--grace", "0.3", c.name("L", dir), "--", "sh", "-c", lingering, "sh", holdScript(filepath.Join(dir, "events"), "L", 40, true)}
		},
		setup: func(t *testing.T, dir string) {
			c.start(t, dir, []string{"lock", "-t", "20", c.name("L", dir), "--", "sh", "-c", holdScript(filepath.Join(dir, "events"), "L", 5, false)})
		},
		grace: 300 * time.Millisecond,
		delay: 600 * time.Millisecond,
		check: func(t *testing.T, dir string) any {
			if v := c.wait(dir); v != nil {
				return v
			}
			// Free afterwards: one more holder gets it.
			if v := c.run(dir, "lock", "-t", "5", c.name("L", dir), "--", "sh", "-c", holdScript(filepath.Join(dir, "events"), "L", 2, false)); v != nil {
				return v
			}
			return overlaps(filepath.Join(dir, "events"))
		},
	})
}

// TestLifetimePshmSem: the same for pshm sem S -n 2 -- CMD beside two
// waiting holders: never more than 2 inside at once, and afterwards both
// slots can be taken.
func TestLifetimePshmSem(t *testing.T) {
	c := newContenders(t)
	me := strconv.Itoa(os.Getpid())
	runLifeTrials(t, lifeTrial{
		tool: "pshm",
		args: func(dir string) []string {
			return []string{"sem", "--grace", "0.3", "-n", "2", c.name("S", dir), "--", "sh", "-c", lingering, "sh", holdScript(filepath.Join(dir, "events"), "S", 40, true)}
		},
		setup: func(t *testing.T, dir string) {
			hold := []string{"sem", "-n", "2", "-t", "20", c.name("S", dir), "--", "sh", "-c", holdScript(filepath.Join(dir, "events"), "S", 10, false)}
			c.start(t, dir, hold, hold)
		},
		grace: 300 * time.Millisecond,
		delay: 600 * time.Millisecond,
		check: func(t *testing.T, dir string) any {
			if v := c.wait(dir); v != nil {
				return v
			}
			if v := overlapsN(filepath.Join(dir, "events"), 2); v != nil {
				return v
			}
			// Both slots free afterwards (one maybe once recovered).
			for range 2 {
				if v := c.run(dir, "sem", "-t", "5", c.name("S", dir), "--acquire", "--owner", me); v != nil {
					return v
				}
			}
			for range 2 {
				if v := c.run(dir, "sem", c.name("S", dir), "--release", "--owner", me); v != nil {
					return v
				}
			}
			return nil
		},
	})
}
