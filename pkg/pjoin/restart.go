package pjoin

import (
	"syscall"

	"github.com/pkit-sh/pkit/pkg/job"
	"github.com/pkit-sh/pkit/pkg/procwait"
)

// A job started with pspawn --restart runs as several processes in turn,
// and between them as none: it is waited for through its supervisor,
// which writes the job's final record before it exits. Its record, read
// again when the supervisor ends, says how the job stopped.

// looping reports whether rec is a job with a supervisor of its own
// (--restart, --after) that has not stopped.
func looping(rec *job.Record) bool { return (rec.Restart != "" || rec.Held) && !rec.Final() }

// openLoop takes a pidfd on t's supervisor, checked against its start
// time. One that is gone leaves the record as it is: lost if the last run
// still runs, else ended with an unknown status.
func (j *joiner) openLoop(t *target) {
	if p := j.supervisor(t.rec); p != nil {
		t.proc = p
		return
	}
	if t.rec.State == job.Running && t.rec.Is(j.boot) {
		t.state = job.Lost
		if err := j.open(t); err == nil {
			return
		}
	}
	j.gone(t)
}

// supervisor takes a pidfd on rec's supervisor, checked against its start
// time, or returns nil if it is gone.
func (j *joiner) supervisor(rec *job.Record) *procwait.Proc {
	if rec.SupervisorGone(j.boot) {
		return nil
	}
	p, err := procwait.Open(rec.Supervisor)
	if err != nil {
		return nil
	}
	if st, err := p.ReadStat(); err == nil && st.StartTime == rec.SupervisorStart {
		return p
	}
	p.Close()
	return nil
}

// send is signal, or signalLoop for a --restart job held through its
// supervisor.
func (j *joiner) send(t *target, sig syscall.Signal) error {
	if t.rec != nil && looping(t.rec) && t.state != job.Lost {
		j.signalLoop(t, sig)
		return nil
	}
	return j.signal(t, sig)
}

// signalLoop stops a --restart job: TERM to its supervisor ends the loop
// and the run (the run's group gets TERM, then KILL after pspawn's
// --grace); for --kill the run's group is also killed at once.
func (j *joiner) signalLoop(t *target, sig syscall.Signal) {
	if t.proc.Exited() {
		return
	}
	t.proc.Signal(syscall.SIGTERM)
	if sig == syscall.SIGKILL && t.rec.PGID > 0 && t.rec.Is(j.boot) {
		syscall.Kill(-t.rec.PGID, syscall.SIGKILL)
	}
}

// endLoop is ended for a job held through its supervisor: the pidfd is
// the supervisor's, whose own status says nothing of the job; the record
// does, unless the supervisor died before writing it.
func (j *joiner) endLoop(t *target) {
	j.refresh(t, 0)
	if !t.rec.Final() {
		t.state = job.Unknown
		j.settle(t)
	}
}
