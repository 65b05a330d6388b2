package pjoin

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/job"
	"github.com/pkit-sh/pkit/pkg/procwait"
)

// alive is is_alive: exit 0 iff every target is running.
func (j *joiner) alive(targets []*target) error {
	for _, t := range targets {
		if t.missing || t.done || t.proc.Exited() {
			return cli.Exit(cli.ExitFail, nil)
		}
	}
	return nil
}

// status prints each target's state without waiting.
func (j *joiner) status(targets []*target) error {
	for _, t := range targets {
		if t.missing {
			continue
		}
		if !t.done && t.proc.Exited() {
			j.ended(t)
		}
		j.statusLine(t)
	}
	if j.first != 0 {
		return cli.Exit(j.first, nil)
	}
	return nil
}

// statusAll prints the status of every recorded job.
func (j *joiner) statusAll() error {
	recs, err := j.store.List()
	if err != nil {
		return err
	}
	for _, rec := range recs {
		t := j.fromRecord(rec.ID, rec)
		if !t.done && t.proc.Exited() {
			j.ended(t)
		}
		j.statusLine(t)
		t.close()
	}
	return nil
}

// statusLine: ID PID NAME STATE CODE RUNTIME.
func (j *joiner) statusLine(t *target) {
	if j.cli.JSON {
		j.print(t)
		return
	}
	id, runtime := "-", "-"
	if t.rec != nil {
		id = t.rec.ID
	}
	if rt, ok := t.runtime(); ok {
		runtime = rt.String()
	}
	state := t.state
	if !t.done && state != job.Lost && state != job.Backoff && state != job.Waiting && state != job.Scheduled && state != job.Queued {
		state = job.Running
	}
	fmt.Fprintf(j.out, "%s\t%d\t%s\t%s\t%s\t%s", id, t.pid, t.name, state, t.code(), runtime)
	if t.rec != nil && t.rec.Runs > 0 {
		fmt.Fprintf(j.out, "\t%d", t.rec.Runs) // --restart: the run count
	}
	fmt.Fprintln(j.out)
}

// terminate is Process.terminate (or kill): the signal to each running
// target's process group, then, for TERM, KILL to what outlives --grace.
// Only processes held by a pidfd opened after checking their start time
// are signalled, so a reused PID is never hit.
func (j *joiner) terminate(targets []*target) error {
	sig := syscall.SIGTERM
	if j.cli.Kill {
		sig = syscall.SIGKILL
	}
	var live []*target
	for _, t := range targets {
		if t.missing || t.done {
			continue
		}
		if err := j.send(t, sig); err != nil {
			return err
		}
		live = append(live, t)
	}
	if sig == syscall.SIGKILL || len(live) == 0 {
		return nil
	}
	deadline := time.Now().Add(j.cli.Grace.D())
	for len(live) > 0 {
		procs := make([]*procwait.Proc, len(live))
		for i, t := range live {
			procs[i] = t.proc
		}
		ready, err := procwait.Wait(procs, max(time.Until(deadline), 0))
		if err != nil {
			return err
		}
		if len(ready) == 0 {
			for _, t := range live {
				if err := j.send(t, syscall.SIGKILL); err != nil {
					return err
				}
			}
			return nil
		}
		gone := map[int]bool{}
		for _, i := range ready {
			gone[i] = true
		}
		rest := live[:0]
		for i, t := range live {
			if !gone[i] {
				rest = append(rest, t)
			}
		}
		live = rest
	}
	return nil
}

// signal sends sig to t's process group when pspawn made one (and its
// leader is still t), else to t alone through its pidfd.
func (j *joiner) signal(t *target, sig syscall.Signal) error {
	if t.proc.Exited() {
		return nil
	}
	if t.rec != nil && t.rec.PGID == t.pid {
		if err := syscall.Kill(-t.pid, sig); err == nil {
			return nil
		}
	}
	err := t.proc.Signal(sig)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return cli.Exitf(cli.ExitFail, "signal %d: %v", t.pid, err)
	}
	return nil
}

// logs prints the default log of each job, under a header naming the job
// when there are several (as tail(1) does). With --follow it keeps
// printing what a running job writes until the job ends, and the exit
// status is the jobs' as when joining them.
func (j *joiner) logs(targets []*target) error {
	n := 0
	for _, t := range targets {
		if !t.missing {
			n++
		}
	}
	for _, t := range targets {
		if t.missing {
			continue
		}
		if t.rec == nil || t.rec.Log == "" {
			j.fail(cli.ExitFail)
			j.env.Warnf("%s: no log (not a pspawn job, or its output was redirected)", t.ref)
			continue
		}
		f, err := os.Open(t.rec.Log)
		if err != nil {
			j.fail(cli.ExitFail)
			j.env.Warnf("%s: %v", t.ref, err)
			continue
		}
		if n > 1 {
			fmt.Fprintf(j.out, "==> %s <==\n", t.name)
		}
		// pspawn --log-max keeps the older half in LOG.1.
		if old, err := os.Open(t.rec.Log + ".1"); err == nil {
			_, err = io.Copy(j.out, old)
			old.Close()
			if err != nil {
				f.Close()
				return fmt.Errorf("print log of %s: %w", t.ref, err)
			}
		}
		err = j.copyLog(t, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("print log of %s: %w", t.ref, err)
		}
	}
	if j.first != 0 {
		return cli.Exit(j.first, nil)
	}
	return nil
}

// followPoll is how often --follow looks for more output of a running job.
const followPoll = 100 * time.Millisecond

// copyLog prints the log f of t; with --follow, until t has ended.
func (j *joiner) copyLog(t *target, f *os.File) error {
	for {
		if _, err := io.Copy(j.out, f); err != nil {
			return err
		}
		if !j.cli.Follow {
			return nil
		}
		if t.done {
			j.noteEnd(t)
			return nil
		}
		ready, err := procwait.Wait([]*procwait.Proc{t.proc}, followPoll)
		if err != nil {
			return err
		}
		if len(ready) > 0 {
			j.ended(t)
			// The job's last writes are in the log once it has ended.
		}
	}
}

// forgetAll deletes every record of an ended job.
func (j *joiner) forgetAll() error {
	recs, err := j.store.List()
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if rec.Final() || !rec.Is(j.boot) {
			if err := j.store.Remove(rec); err != nil {
				return err
			}
		}
	}
	return nil
}
