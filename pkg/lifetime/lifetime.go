// Package lifetime ties the work a tool starts to the tool's own life.
//
// Every command a pkit tool runs is a job, and a job is its process group:
// the command leads a group of its own, and its children stay in it unless
// they leave on purpose (setsid, setpgid). Signals, timeouts and
// termination go to the whole group.
//
// When the tool ends, however it ends, every group it started ends too. A
// tool that exits normally or by a signal it catches stops its groups
// itself (Groups.Close). SIGKILL cannot be caught, so each tool invocation
// that starts work also starts one small watchdog: a copy of its own binary
// in a session of its own that ignores the usual termination signals and
// learns the tool's process groups over a pipe. When the pipe reaches end of
// file, because the tool has gone, the watchdog sends TERM (and CONT, so a
// stopped group can act on it) to each group still alive, waits for the
// grace period and sends KILL to what is left.
//
// A tool calls Start before its first job, so that the watchdog runs before
// any job does. The instant between the start of a job and its
// registration is covered on Linux by the parent-death signal: the kernel
// sends TERM to the job's leader if the tool dies in it.
package lifetime

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// Groups is the set of live process groups one tool invocation started.
// The zero value is not usable; call New. Its methods are safe for
// concurrent use.
type Groups struct {
	grace time.Duration

	mu       sync.Mutex
	live     map[int]bool // groups that may still have members
	pipe     *os.File     // write end; the watchdog holds the read end
	watchdog int          // its PID, 0 before the first Add
	closed   bool
}

// New returns an empty set whose groups get grace between TERM and KILL
// when they are stopped. No process starts until Start or Add, so a tool
// call that starts no work starts no watchdog.
func New(grace time.Duration) *Groups {
	return &Groups{grace: grace, live: map[int]bool{}}
}

// Grace is the time between TERM and KILL.
func (g *Groups) Grace() time.Duration { return g.grace }

// Start starts the watchdog if it does not run yet. Call it before
// starting the first job: a job started before the watchdog runs has only
// its leader covered (by the parent-death signal) until Add, and a child it
// forks in that time would outlive a tool killed then.
func (g *Groups) Start() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.start()
}

// Prepare starts the watchdog in the background, so that its start
// overlaps the work a tool does before its first job (taking a lock or an
// item): a tool that will run a job calls it first thing. It guarantees
// nothing by itself: Start is still called before the first job, and
// returns once the watchdog runs (a failed start is tried again there, and
// its error returned). A tool that ends without a job has started a
// watchdog for nothing, and Close ends it.
func (g *Groups) Prepare() {
	go g.Start()
}

// start is Start with g.mu held.
func (g *Groups) start() error {
	if g.closed {
		return errors.New("lifetime: groups already closed")
	}
	if g.pipe == nil {
		return g.startWatchdog()
	}
	return nil
}

// Add registers the process group pgid, just started, with the watchdog,
// starting the watchdog if Start was not called. An error means the job
// is not protected against the tool's death: the caller should stop the
// job and report the error.
func (g *Groups) Add(pgid int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.start(); err != nil {
		return err
	}
	g.live[pgid] = true
	if _, err := g.pipe.WriteString("+" + strconv.Itoa(pgid) + "\n"); err != nil {
		return fmt.Errorf("register process group %d with the watchdog: %w", pgid, err)
	}
	return nil
}

// Ended tells the set that the leader of pgid has been reaped. A group with
// no member left is forgotten, here and by the watchdog, so that its number
// can be reused safely; one whose leader left members behind stays in the
// set until Close stops them.
func (g *Groups) Ended(pgid int) {
	if !Gone(pgid) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forget(pgid)
}

// End tells the set that the leader of pgid has been reaped and the job is
// over: a job is its process group, so what the leader left in it is
// stopped (TERM and CONT, KILL after the grace period) before End forgets
// the group. It returns at once when the group is empty, as it usually is.
func (g *Groups) End(pgid int) {
	if !Gone(pgid) && len(stopGroups([]int{pgid}, g.grace)) > 0 {
		return // members outlived KILL: Close and the watchdog still know it
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forget(pgid)
}

// forget drops pgid; the caller holds g.mu.
func (g *Groups) forget(pgid int) {
	if !g.live[pgid] {
		return
	}
	delete(g.live, pgid)
	if g.pipe != nil {
		// A failed write leaves pgid with the watchdog: at worst it is
		// signalled after the tool's death, when it is already empty.
		g.pipe.WriteString("-" + strconv.Itoa(pgid) + "\n")
	}
}

// Empty reports whether no group of the set may still have members: every
// one ended empty (Ended, End) or was stopped.
func (g *Groups) Empty() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.live) == 0
}

// Signal sends sig to every group in the set.
func (g *Groups) Signal(sig syscall.Signal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for pgid := range g.live {
		if syscall.Kill(-pgid, sig) == syscall.ESRCH {
			g.forget(pgid)
		}
	}
}

// Stop ends every group in the set: TERM and CONT, then KILL to whatever is
// left after the grace period. It returns once no group has a member left,
// or after the KILL if members survive it (a process in uninterruptible
// sleep dies when it wakes).
func (g *Groups) Stop() {
	g.mu.Lock()
	pgids := make([]int, 0, len(g.live))
	for pgid := range g.live {
		pgids = append(pgids, pgid)
	}
	g.mu.Unlock()
	left := stopGroups(pgids, g.grace)
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, pgid := range pgids {
		if !left[pgid] {
			g.forget(pgid)
		}
	}
}

// Close stops every group still in the set, then ends the watchdog and
// reaps it. Call it once the tool's jobs have ended, on every path out of
// the tool (after a caught signal too).
func (g *Groups) Close() {
	g.Stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.closed = true
	if g.pipe == nil {
		return
	}
	defer g.pipe.Close()
	if len(g.live) > 0 || g.watchdog == 0 {
		// Members that outlived KILL (asleep in the kernel): the watchdog,
		// at end of file once the pipe is closed, goes on waiting for them
		// after we exit.
		return
	}
	// Nothing is left to watch. KILL rather than waiting for the watchdog
	// to notice the end of file: it may still be starting up, and a
	// one-shot tool would wait for that. The pipe is closed after, so that
	// the watchdog is woken once, to die, not first to read the end of
	// file (its work competes with what waits for the tool's jobs).
	syscall.Kill(g.watchdog, syscall.SIGKILL)
	for {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(g.watchdog, &ws, 0, nil); err != syscall.EINTR {
			return
		}
	}
}

// Watchdog is the PID of the watchdog process, or 0 if none runs. A tool
// that reaps all its children with wait4(-1) uses it, or Reaped, to tell
// the watchdog from its jobs.
func (g *Groups) Watchdog() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.watchdog
}

// Reaped tells the set that a tool reaping every child with wait4(-1) has
// just reaped pid, and reports whether that was the watchdog (which
// exits early only if it fails). Its PID is then free for reuse, so the
// set must never signal it again.
func (g *Groups) Reaped(pid int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if pid == 0 || pid != g.watchdog {
		return false
	}
	g.watchdog = 0
	return true
}

// startWatchdog starts the watchdog: this same binary, recognised by the
// environment variable, reading the pipe on descriptor 3. Its standard
// streams are /dev/null so that it never holds the tool's output open (a
// command substitution would wait for it). The caller holds g.mu.
func (g *Groups) startWatchdog() error {
	self, err := executable()
	if err != nil {
		return fmt.Errorf("start watchdog: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start watchdog: %w", err)
	}
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return fmt.Errorf("start watchdog: %w", err)
	}
	defer null.Close()
	env := append(os.Environ(), watchdogEnv+"="+g.grace.String())
	// syscall.ForkExec, not os.StartProcess: the watchdog is reaped by
	// Close with wait4, and os.StartProcess would first probe for pidfd
	// support with a throw-away child.
	pid, err := syscall.ForkExec(self, []string{os.Args[0]}, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{null.Fd(), null.Fd(), null.Fd(), r.Fd()},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	runtime.KeepAlive(null)
	runtime.KeepAlive(r)
	if err != nil {
		w.Close()
		return fmt.Errorf("start watchdog: %w", err)
	}
	g.pipe, g.watchdog = w, pid
	return nil
}

// Gone reports whether process group pgid has no live member left. A
// zombie is not live: orphaned ones wait for an init that may reap them
// late. A group of another user's processes (EPERM) is not gone.
func Gone(pgid int) bool {
	return pgid > 0 && len(withLiveMembers(map[int]bool{pgid: true})) == 0
}

// AwaitGone waits up to timeout for process group pgid to have no live
// member and reports whether it has none. A lease or lock given back for a
// job that failed or was stopped waits for this, not only for the job's
// leader, so that the next taker never overlaps what the job left behind.
func AwaitGone(pgid int, timeout time.Duration) bool {
	return awaitGone(map[int]bool{pgid: true}, timeout)
}

// withLiveMembers returns the groups of pgids that have a live member. The
// kernel answers for an empty group at once; only groups that still hold a
// process, maybe a zombie, cost a look at the process table.
func withLiveMembers(pgids map[int]bool) map[int]bool {
	live := map[int]bool{}
	for pgid := range pgids {
		if syscall.Kill(-pgid, 0) != syscall.ESRCH {
			live[pgid] = false
		}
	}
	if len(live) == 0 {
		return live
	}
	procs, err := proc.All()
	if err != nil {
		return live // unknown members count as live
	}
	for _, p := range procs {
		if _, ok := live[p.PGRP]; ok && p.State != 'Z' && p.State != 'X' {
			live[p.PGRP] = true
		}
	}
	for pgid, seen := range live {
		if !seen {
			delete(live, pgid)
		}
	}
	return live
}

// stopGroups sends TERM and CONT to each group, waits up to grace for them
// to empty, then sends KILL to the rest and waits a little for them to go.
// It returns the groups that still had members at the end.
func stopGroups(pgids []int, grace time.Duration) map[int]bool {
	left := map[int]bool{}
	for _, pgid := range pgids {
		if syscall.Kill(-pgid, syscall.SIGTERM) == nil {
			syscall.Kill(-pgid, syscall.SIGCONT)
			left[pgid] = true
		}
	}
	if awaitGone(left, grace) {
		return left
	}
	for pgid := range left {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	awaitGone(left, time.Second)
	return left
}

// awaitGone removes groups from left as they empty, until none is left
// (true) or timeout passes. Members of a group need not be children of
// this process, so there is nothing to wait on but the group's existence:
// it checks at a short, growing interval.
func awaitGone(left map[int]bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for step := time.Millisecond; ; step = min(2*step, 50*time.Millisecond) {
		live := withLiveMembers(left)
		for pgid := range left {
			if !live[pgid] {
				delete(left, pgid)
			}
		}
		if len(left) == 0 {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(step, time.Until(deadline)))
	}
}
