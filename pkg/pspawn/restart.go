package pspawn

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/job"
	"golang.org/x/sys/unix"
)

// Restart is the grammar of --restart and its companions, embedded in CLI.
type Restart struct {
	Restart     string       `name:"restart" placeholder:"WHEN" enum:"on-failure,always," default:"" help:"Run the command again when it ends: on-failure (a non-zero code, a signal, a timeout) or always (default: never)."`
	Backoff     string       `name:"backoff" placeholder:"MIN[:MAX]" help:"With --restart: wait MIN before the first restart, doubling (with 10% jitter) up to MAX; reset after a run longer than MAX (default 1s:1m; 0 restarts at once)."`
	MaxRestarts int          `name:"max-restarts" placeholder:"N" help:"With --restart: after N restarts (within --within) stop and record the job as failed (default: no limit)."`
	Within      cli.Duration `name:"within" placeholder:"DUR" help:"With --max-restarts: count only the restarts of the last DUR (default: all of them)."`
}

// Default back-off of --restart.
const (
	defaultBackoffMin = time.Second
	defaultBackoffMax = time.Minute
)

// restartPolicy is --restart as the supervisor applies it.
type restartPolicy struct {
	When        string // "", "on-failure" or "always"
	Min, Max    time.Duration
	MaxRestarts int
	Within      time.Duration
}

// plan checks the flags and puts the policy in sp.
func (r *Restart) plan(sp *spec) error {
	if r.Restart == "" {
		if r.Backoff != "" || r.MaxRestarts != 0 || r.Within != 0 {
			return cli.Usagef("--backoff, --max-restarts and --within go with --restart")
		}
		return nil
	}
	if sp.Foreground {
		return cli.Usagef("--restart and --wait exclude each other")
	}
	if r.MaxRestarts < 0 {
		return cli.Usagef("--max-restarts %d: want 0 or more", r.MaxRestarts)
	}
	if r.Within != 0 && r.MaxRestarts == 0 {
		return cli.Usagef("--within needs --max-restarts")
	}
	p := restartPolicy{When: r.Restart, Min: defaultBackoffMin, Max: defaultBackoffMax, MaxRestarts: r.MaxRestarts, Within: r.Within.D()}
	if r.Backoff != "" {
		var err error
		if p.Min, p.Max, err = parseBackoff(r.Backoff); err != nil {
			return cli.Usagef("--backoff %q: %v", r.Backoff, err)
		}
	}
	sp.Policy = p
	return nil
}

// parseBackoff reads MIN[:MAX]; MAX defaults to the larger of MIN and
// the default maximum.
func parseBackoff(s string) (lo, hi time.Duration, err error) {
	minS, maxS, both := strings.Cut(s, ":")
	if lo, err = cli.ParseDuration(minS); err != nil {
		return 0, 0, err
	}
	hi = max(lo, defaultBackoffMax)
	if both {
		if hi, err = cli.ParseDuration(maxS); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, errRange
		}
	}
	return lo, hi, nil
}

var errRange = errors.New("MAX is less than MIN")

// delay is the wait before restart number n (1 for the first) of a
// sequence of quick failures: MIN doubled n-1 times, at most MAX, with
// ±10% jitter so that jobs failing together do not restart in step.
func (p *restartPolicy) delay(n int, rnd *rand.Rand) time.Duration {
	d := p.Min
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) * (0.9 + 0.2*rnd.Float64()))
}

// loop is the restart state of the one job of a --restart supervisor.
type loop struct {
	policy   *restartPolicy
	rnd      *rand.Rand
	quick    int         // failures in a row that ran no longer than Max
	restarts []time.Time // the last MaxRestarts restarts, for --within
	stop     chan struct{}
	once     sync.Once
	next     time.Duration // the back-off before the coming run
	ended    string        // the state the last run ended in
}

// again decides what follows the end of run rec: restart after a delay,
// or stop; failed is set when --max-restarts stops the job.
func (l *loop) again(rec *job.Record, now time.Time) (restart bool, d time.Duration, failed bool) {
	ok := !rec.TimedOut && rec.Signal == 0 && rec.ExitCode != nil && *rec.ExitCode == 0
	if l.policy.When == "on-failure" && ok {
		return false, 0, false
	}
	select {
	case <-l.stop:
		return false, 0, false
	default:
	}
	if n := l.policy.MaxRestarts; n > 0 {
		if l.policy.Within > 0 {
			kept := l.restarts[:0]
			for _, t := range l.restarts {
				if now.Sub(t) < l.policy.Within {
					kept = append(kept, t)
				}
			}
			l.restarts = kept
		}
		if len(l.restarts) >= n {
			return false, 0, true
		}
		l.restarts = append(l.restarts, now)
	}
	if now.Sub(rec.Started) > l.policy.Max {
		l.quick = 0
	}
	l.quick++
	return true, l.policy.delay(l.quick, l.rnd), false
}

// wait sleeps the back-off d and reports whether the loop goes on: a
// TERM, INT or HUP to the supervisor (pjoin --terminate) ends it.
func (l *loop) wait(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-l.stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.stop:
		return false
	}
}

// newLoop is the restart state of a supervisor under policy p.
func newLoop(p *restartPolicy) *loop {
	return &loop{policy: p, rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		restarts: make([]time.Time, 0, p.MaxRestarts), stop: make(chan struct{})}
}

// startSupervisors starts the supervisors of sp's jobs: one for all
// copies, or with --restart, --after, --in, --at or --log-max one per copy, so that each job's
// supervisor lives exactly as long as its loop or wait, and pjoin can
// wait for it.
func startSupervisors(sp *spec) ([]started, error) {
	if !sp.held() && sp.LogMax == 0 {
		return startSupervisor(sp)
	}
	var all []started
	for _, j := range sp.Jobs {
		one := *sp
		if sp.Policy.When != "" {
			j.Run = 1
		}
		one.Jobs = []jobSpec{j}
		st, err := startSupervisor(&one)
		if err != nil {
			return all, err
		}
		all = append(all, st...)
	}
	return all, nil
}

// ranOut handles the end of run rec of a --restart job (s.mu held): it
// lists the run, and returns the record to start again, or nil when the
// job has stopped for good (with its final record written).
func (s *supervisor) ranOut(rec *job.Record) *job.Record {
	if err := s.store.AppendRun(rec); err != nil {
		fmt.Fprintf(s.errw, "pspawn: %v\n", err)
	}
	restart, d, failed := s.loop.again(rec, time.Now())
	if failed {
		rec.State = job.Failed
	}
	if !restart {
		s.write(rec)
		return nil
	}
	s.loop.next, s.loop.ended = d, rec.State
	if d > 0 {
		rec.State = job.Backoff
		s.write(rec)
	}
	return rec
}

// restart waits out the back-off of prev's job and runs it again; a stop
// request meanwhile, or a start that fails, makes prev's end final.
func (s *supervisor) restart(prev *job.Record) {
	if !s.loop.wait(s.loop.next) {
		s.final(prev)
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if s.sp.Nice != 0 {
		unix.Setpriority(unix.PRIO_PROCESS, 0, s.sp.Nice)
	}
	j := jobSpec{ID: prev.ID, Name: prev.Name, Argv: prev.Cmd, Log: prev.Log, Run: prev.Runs + 1}
	if _, err := s.startJob(j); err != nil {
		fmt.Fprintf(s.errw, "pspawn: restart job %s: %v\n", prev.ID, err)
		s.final(prev)
	}
}

// final writes prev's last run as the job's end.
func (s *supervisor) final(prev *job.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev.State = s.loop.ended
	s.write(prev)
}

// stopLoop ends the restart loop, if any: no run starts after a TERM, INT
// or HUP to the supervisor.
func (s *supervisor) stopLoop() {
	if s.loop != nil {
		s.loop.once.Do(func() { close(s.loop.stop) })
	}
}
