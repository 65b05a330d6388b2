package ppool

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"golang.org/x/sys/unix"
)

// schedule runs the jobs next gives and returns when every worker is done.
// One path runs every job: a worker per slot (-j N), or per item (-j 0),
// each starting its jobs one after the other and waiting for each (await).
// Retries, throttling and halting happen in the worker, so each
// worker's waits hold up only its own slot.
func (p *Pool) schedule(next func() *job) {
	var wg sync.WaitGroup
	if p.Jobs > 0 {
		for s := 1; s <= p.Jobs; s++ {
			wg.Add(1)
			go func() { defer wg.Done(); p.work(s, next) }()
		}
		wg.Wait()
		return
	}
	for slot := 1; ; slot++ {
		j := next()
		if j == nil {
			break
		}
		taken := false
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work(slot, func() *job {
				if taken {
					return nil
				}
				taken = true
				return j
			})
		}()
	}
	wg.Wait()
}

// work runs the jobs next gives in slot. Its goroutine stays locked to its OS
// thread and never unlocks: the thread is the parent whose death the
// kernel's PDEATHSIG watches, so it must live until its last child has
// been reaped (the runtime ends a thread when a goroutine locked to it
// exits, which work does only after that).
func (p *Pool) work(slot int, next func() *job) {
	runtime.LockOSThread()
	var out, errOut *outFile
	if !p.Ungroup && !p.LineBuffer {
		var err error
		if out, err = newOutFile(); err != nil {
			p.fatal(err)
			return
		}
		defer out.Close()
		if errOut, err = newOutFile(); err != nil {
			p.fatal(err)
			return
		}
		defer errOut.Close()
	}
	for {
		j := next()
		if j == nil {
			return
		}
		if p.stopping.Load() || !p.throttle() {
			p.notRun(j)
			return
		}
		var r *result
		for try := 1; try <= p.Retries; try++ {
			if try > 1 && out != nil {
				out.skip(out.size())
				errOut.skip(errOut.size())
			}
			r = p.runJob(j, slot, out, errOut)
			if r.exit == 0 && r.signal == 0 || p.stopping.Load() {
				break
			}
		}
		if p.afterJob != nil {
			p.afterJob(r, out, errOut)
		}
		p.finish(r, out, errOut)
		if j.in != nil {
			j.in.release()
		}
	}
}

// handleSignals: the first INT, TERM or HUP stops the run. No job starts
// after it; the running jobs' groups get TERM (and CONT), then KILL after
// --grace; a second signal kills them at once. Run then records the items
// not run and exits 128+N.
func (p *Pool) handleSignals(sigs <-chan os.Signal) {
	for s := range sigs {
		sig := s.(syscall.Signal)
		if !p.interrupt.CompareAndSwap(0, int32(sig)) {
			p.groups.Signal(syscall.SIGKILL)
			continue
		}
		p.stop()
		go p.groups.Stop()
	}
}

// tempFile is an unlinked file a job writes its output to: no pipes and no
// reader goroutines. It is open for appending, so that a job's writes go
// to its end whatever the offset (ppool reads each job's output from where
// the last one's ended: see outFile).
func tempFile() (*os.File, error) {
	f, err := os.CreateTemp("", "ppool-*")
	if err != nil {
		return nil, fmt.Errorf("output buffer: %w", err)
	}
	defer f.Close()
	defer os.Remove(f.Name())
	af, err := os.OpenFile(f.Name(), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("output buffer: %w", err)
	}
	return af, nil
}

// throttle waits for --delay, --load and --memfree; false if stopped.
func (p *Pool) throttle() bool {
	for p.Load > 0 && loadAvg() > p.Load || p.Memfree > 0 && memAvailable() < p.Memfree {
		select {
		case <-p.stopCh:
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
	if p.Delay > 0 {
		p.mu.Lock()
		wait := time.Until(p.lastStart.Add(p.Delay))
		p.lastStart = time.Now().Add(max(wait, 0))
		p.mu.Unlock()
		if wait > 0 {
			select {
			case <-p.stopCh:
				return false
			case <-time.After(wait):
			}
		}
	}
	return !p.stopping.Load()
}

var devNull = func() *os.File { f, _ := os.Open(os.DevNull); return f }()

// argv builds the job's command line.
func (p *Pool) argv(j *job, slot int) []string {
	item := j.item
	if p.PipeMode && !p.Template.HasReplacements() {
		item = nil // the block number is for {} and --tag, not an argument
	}
	if p.Shell != "" {
		// $0 is the shell: its own errors read as the shell's.
		script, params := p.shellJob(item, j.seq, slot)
		return append([]string{p.Shell, "-c", script, p.Shell}, params...)
	}
	return p.Template.Expand(item, j.seq, slot)
}

// runJob starts one job and waits for it.
func (p *Pool) runJob(j *job, slot int, out, errOut *outFile) *result {
	rj, r := p.startJob(j, slot, out, errOut)
	if r != nil {
		return r
	}
	return p.endJob(rj, await(rj.pid, rj.pidfd, rj.feed))
}

// runningJob is a started job, until endJob.
type runningJob struct {
	r          *result
	pid        int
	pidfd      int   // -1 if none
	feed       *feed // pipe mode: its stdin
	timer      *time.Timer
	closePipes func()
}

// startJob starts one job in a process group of its own, registered with
// the run's lifetime.Groups. A job that cannot start is returned as its
// ended result.
func (p *Pool) startJob(j *job, slot int, out, errOut *outFile) (*runningJob, *result) {
	j.argv = p.argv(j, slot)
	r := &result{job: j, start: time.Now()}
	var stdout, stderr *os.File
	var closePipes func()
	if out != nil {
		stdout, stderr = out.File, errOut.File
	} else if p.Ungroup {
		stdout, stderr = p.stdout, p.stderr
	} else if p.LineBuffer {
		var err error
		if stdout, stderr, closePipes, err = p.linePipes(j); err != nil {
			p.env.Warnf("%v", err)
			r.exit = cli.ExitFail
			return nil, r
		}
	}
	if closePipes == nil {
		closePipes = func() {}
	}
	path, code := p.lookPath(j.argv[0])
	if code != 0 {
		fmt.Fprintf(stderr, "%s: %s: %s\n", p.env.Name, j.argv[0], map[int]string{126: "permission denied", 127: "command not found"}[code])
		closePipes()
		r.exit = code
		r.runtime = time.Since(r.start)
		return nil, r
	}
	env := append(p.baseEnv[:len(p.baseEnv):len(p.baseEnv)], "PPOOL_SEQ="+strconv.Itoa(j.seq), "PPOOL_SLOT="+strconv.Itoa(slot))
	if err := p.groups.Start(); err != nil {
		closePipes()
		p.fatal(err)
		r.exit = cli.ExitFail
		r.runtime = time.Since(r.start)
		return nil, r
	}
	stdin := devNull.Fd()
	var in *feed
	if j.in != nil {
		f, rd, err := newFeed(j.in, &p.fed)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", p.env.Name, err)
			closePipes()
			r.exit = cli.ExitFail
			r.runtime = time.Since(r.start)
			return nil, r
		}
		defer unix.Close(rd) // the child's copy is its own
		stdin, in = uintptr(rd), f
		closeOut := closePipes
		closePipes = func() { f.close(); closeOut(); r.sent = j.in.size() }
	}
	pidfd := -1
	pid, err := syscall.ForkExec(path, j.argv, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{stdin, stdout.Fd(), stderr.Fd()},
		Sys:   jobAttr(&pidfd),
	})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s: %v\n", p.env.Name, j.argv[0], err)
		closePipes()
		r.exit = cli.ExitNotExec
		if errors.Is(err, syscall.ENOENT) {
			r.exit = cli.ExitNotFound
		}
		r.runtime = time.Since(r.start)
		return nil, r
	}
	if err := p.groups.Add(pid); err != nil {
		// Unprotected against ppool's death: do not let it run.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		await(pid, pidfd, nil)
		closePipes()
		p.fatal(err)
		r.exit = cli.ExitFail
		r.runtime = time.Since(r.start)
		return nil, r
	}
	if p.onStart != nil {
		p.onStart(j, pid)
	}
	p.runMu.Lock()
	p.running[pid] = pid
	p.runMu.Unlock()
	if p.interrupt.Load() != 0 {
		// Registered as the signal came, maybe after the groups were
		// stopped: stop them again, this one included.
		go p.groups.Stop()
	}
	rj := &runningJob{r: r, pid: pid, pidfd: pidfd, feed: in, closePipes: closePipes}
	if p.Timeout > 0 {
		rj.timer = time.AfterFunc(p.Timeout, func() {
			_ = syscall.Kill(-pid, syscall.SIGTERM)
			_ = syscall.Kill(-pid, syscall.SIGCONT)
			time.AfterFunc(p.Grace, func() {
				p.runMu.Lock()
				if _, ok := p.running[pid]; ok {
					_ = syscall.Kill(-pid, syscall.SIGKILL)
				}
				p.runMu.Unlock()
			})
		})
	}
	return rj, nil
}

// endJob cleans up after a reaped job and returns its result.
func (p *Pool) endJob(rj *runningJob, ws syscall.WaitStatus) *result {
	r, pid := rj.r, rj.pid
	if rj.timer != nil {
		rj.timer.Stop()
	}
	// What the job left running in its group is part of the job: it ends
	// with it, so that nothing outlives the pool.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	p.groups.Ended(pid)
	p.runMu.Lock()
	delete(p.running, pid)
	p.runMu.Unlock()
	rj.closePipes()
	r.runtime = time.Since(r.start)
	switch {
	case ws.Exited():
		r.exit = ws.ExitStatus()
	case ws.Signaled():
		r.signal = int(ws.Signal())
		r.exit = cli.ExitSignalBase + r.signal
	}
	return r
}

// notRun records a job that a signal kept from starting (nothing for a
// job dropped by --halt, which GNU parallel does not log either).
func (p *Pool) notRun(j *job) {
	sig := p.interrupt.Load()
	if sig == 0 {
		return
	}
	p.notRunN.Add(1)
	j.argv = p.argv(j, 0)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.record(&result{job: j, start: time.Now(), exit: -1, signal: int(sig), notRun: true})
}

// lookPath resolves a program once per name: 0, or 126/127.
func (p *Pool) lookPath(name string) (string, int) {
	p.runMu.Lock()
	path, ok := p.paths[name]
	p.runMu.Unlock()
	if ok {
		return path, 0
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return "", cli.ExitNotExec
		}
		return "", cli.ExitNotFound
	}
	p.runMu.Lock()
	p.paths[name] = path
	p.runMu.Unlock()
	return path, 0
}
