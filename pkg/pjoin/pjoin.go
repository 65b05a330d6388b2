// Package pjoin implements the pjoin command: wait for processes, children
// or not, and report how each ended, Python-style (N, -SIG, or ? when it
// cannot be known); or inspect, terminate and forget pspawn's jobs. It
// waits on pidfds (pkg/procwait) and reads pspawn's records (pkg/job).
package pjoin

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/job"
	"github.com/pkit-sh/pkit/pkg/proc"
	"github.com/pkit-sh/pkit/pkg/procwait"
)

// CLI is pjoin's command line.
type CLI struct {
	Timeout   cli.Duration `name:"timeout" short:"t" placeholder:"DUR" help:"Give up after DUR: exit 124 and list what still runs (default: wait forever)."`
	Any       bool         `name:"any" help:"Return when the first process ends."`
	Count     int          `name:"count" short:"c" placeholder:"N" help:"Return when N processes have ended (default: when all have)."`
	Alive     bool         `name:"alive" help:"Exit 0 if every process is alive, 1 otherwise; do not wait (is_alive)."`
	Status    bool         `name:"status" help:"Print one line per job (state, code, runtime) without waiting; with no arguments, every recorded job."`
	Terminate bool         `name:"terminate" help:"Send TERM to each job's process group, KILL after --grace, and wait."`
	Kill      bool         `name:"kill" help:"Send KILL to each job's process group and wait."`
	Grace     cli.Duration `name:"grace" default:"5s" placeholder:"DUR" help:"Time between TERM and KILL for --terminate."`
	Log       bool         `name:"log" help:"Print the jobs' logs (their default stdout and stderr), each under a header when there are several."`
	Follow    bool         `name:"follow" short:"f" help:"With --log: follow a running job's log until the job ends, then exit with its status."`
	Forget    bool         `name:"forget" help:"Delete the records of the jobs once they have ended; with no arguments, of every ended job."`
	UnknownOK bool         `name:"unknown-ok" help:"Count an exit status that cannot be known (?) as success instead of a failure (exit 1)."`
	JSON      bool         `name:"json" help:"Print JSON objects, one a line."`
	Refs      []string     `arg:"" optional:"" name:"job" help:"Job ids, names or PIDs: the first field of each argument, or a JSON object's id (default: read from stdin, one a line)." completion-predictor:"jobs"`
}

// Command returns pjoin's description for the shared CLI plumbing.
func Command() *cli.Command {
	return &cli.Command{Name: "pjoin", Help: "Wait for processes and report their exit codes; inspect or terminate pspawn jobs.", Grammar: &CLI{}}
}

// Main runs pjoin with args and returns its exit status.
func Main(args []string) int { return cli.Run(Command(), args) }

// Run carries out the mode the flags select.
func (c *CLI) Run(env *cli.Env) error {
	if err := c.check(); err != nil {
		return err
	}
	refs, err := cli.ArgsOrStdin(c.Refs, env.Stdin)
	if err != nil {
		return err
	}
	refs = jobRefs(refs, len(c.Refs) == 0)
	store, err := job.Open()
	if err != nil {
		return err
	}
	j := &joiner{cli: c, store: store, boot: job.BootID(), env: env, out: env.Stdout}
	if len(refs) == 0 {
		switch {
		case c.Status:
			return j.statusAll()
		case c.Forget:
			return j.forgetAll()
		}
		return cli.Usagef("no job, name or PID given (as arguments or on stdin)")
	}
	targets := j.resolve(refs)
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	switch {
	case c.Log:
		return j.logs(targets)
	case c.Alive:
		return j.alive(targets)
	case c.Status:
		return j.status(targets)
	}
	if c.Terminate || c.Kill {
		if err := j.terminate(targets); err != nil {
			return err
		}
	}
	err = j.join(targets)
	if c.Forget {
		for _, t := range targets {
			if t.rec != nil && t.done {
				if ferr := store.Remove(t.rec); ferr != nil && err == nil {
					err = ferr
				}
			}
		}
	}
	return err
}

// jobRefs takes the job from each line of the arguments or of standard
// input as pspawn prints it: the first field of "ID<tab>PID" (so that
// pjoin "$job" works with a variable holding the whole line), or the id
// (else the pid) of a JSON object, as pspawn --json and pjoin --json
// print. Fields are separated by tabs in arguments, by any white space in
// lines read. Empty lines are dropped.
func jobRefs(in []string, read bool) []string {
	out := in[:0]
	for _, arg := range in {
		for _, s := range strings.Split(arg, "\n") {
			if ref := jobRef(s, read); ref != "" {
				out = append(out, ref)
			}
		}
	}
	return out
}

// jobRef is jobRefs for one line.
func jobRef(s string, read bool) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		var obj struct {
			ID  string `json:"id"`
			PID int    `json:"pid"`
		}
		if json.Unmarshal([]byte(s), &obj) == nil {
			switch {
			case obj.ID != "":
				return obj.ID
			case obj.PID > 0:
				return strconv.Itoa(obj.PID)
			}
		}
	}
	if !read {
		ref, _, _ := strings.Cut(s, "\t")
		return ref
	}
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

func (c *CLI) check() error {
	modes := 0
	for _, on := range []bool{c.Alive, c.Status, c.Log, c.Terminate || c.Kill} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return cli.Usagef("--alive, --status, --log and --terminate/--kill exclude each other")
	}
	if c.Follow && !c.Log {
		return cli.Usagef("--follow goes with --log")
	}
	if c.Any && c.Count > 0 {
		return cli.Usagef("--any and --count exclude each other")
	}
	if c.Count < 0 {
		return cli.Usagef("--count %d: want at least 1", c.Count)
	}
	if c.Any {
		c.Count = 1
	}
	return nil
}

// target is one process to join: a pspawn job, a plain PID, or a reference
// that matched nothing.
type target struct {
	ref     string
	rec     *job.Record // nil for a process pspawn did not start
	pid     int
	start   uint64 // start time, so a reused PID is never taken for it
	name    string
	proc    *procwait.Proc
	sup     *procwait.Proc // the job's supervisor, while it lives
	missing bool
	done    bool
	status  procwait.Status
	state   string // job.Exited, Killed, Timeout, Unknown, Running, Lost
	ended   time.Time
}

// close releases t's handles.
func (t *target) close() {
	for _, p := range []*procwait.Proc{t.proc, t.sup} {
		if p != nil {
			p.Close()
		}
	}
}

type joiner struct {
	cli   *CLI
	store *job.Store
	boot  string
	out   io.Writer
	env   *cli.Env // for warnings
	first int      // exit status of the first failure, 0 if none yet
	line  []byte   // print's buffer
}

// fail notes a failure's exit status if it is the first.
func (j *joiner) fail(code int) {
	if j.first == 0 {
		j.first = code
	}
}

// resolve turns each reference into a target, opening a pidfd on every
// live one at once: its exit status can only be learnt through a pidfd
// opened before the process is reaped.
func (j *joiner) resolve(refs []string) []*target {
	out := make([]*target, 0, len(refs))
	seen := map[[2]uint64]bool{}
	for _, ref := range refs {
		t, err := j.resolveOne(ref)
		if err == nil && t.pid > 0 {
			// "pjoin $(pspawn ...)" names each job twice: by id and by PID.
			// (A job waiting for --after has no PID yet.)
			key := [2]uint64{uint64(t.pid), t.start}
			if seen[key] {
				t.close()
				continue
			}
			seen[key] = true
		}
		if err != nil {
			j.env.Warnf("%v", err)
			t = &target{ref: ref, missing: true}
			var ee *cli.ExitError
			if errors.As(err, &ee) {
				j.fail(ee.Code)
			} else {
				j.fail(cli.ExitFail)
			}
		}
		out = append(out, t)
	}
	return out
}

func (j *joiner) resolveOne(ref string) (*target, error) {
	pidStr, startStr, withStart := strings.Cut(ref, "@")
	if pid, err := strconv.Atoi(pidStr); err == nil && pid > 0 {
		var start uint64
		if withStart {
			if start, err = strconv.ParseUint(startStr, 10, 64); err != nil {
				return nil, cli.Usagef("%q: want PID or PID@STARTTIME", ref)
			}
		}
		return j.byPID(ref, pid, start)
	}
	if !job.IsID(ref) {
		if err := cli.ValidName("job", ref); err != nil {
			return nil, err
		}
	}
	rec, err := j.store.Find(ref)
	if err != nil {
		return nil, cli.Exit(cli.ExitFail, err)
	}
	return j.fromRecord(ref, rec), nil
}

// byPID finds the process pid (with the given start time, if not 0): the
// live process, as a job if pspawn started it, or else the latest record
// of a job that had the PID.
func (j *joiner) byPID(ref string, pid int, start uint64) (*target, error) {
	if st, err := proc.ReadStat(pid); err == nil && (start == 0 || st.StartTime == start) {
		if rec, err := j.store.ByPID(pid, st.StartTime); err == nil && rec != nil && (rec.BootID == "" || rec.BootID == j.boot) {
			return j.fromRecord(ref, rec), nil
		}
		t := &target{ref: ref, pid: pid, start: st.StartTime, name: st.Comm, state: job.Running}
		if err := j.open(t); err != nil {
			return nil, err
		}
		return t, nil
	}
	rec, err := j.store.ByPID(pid, start)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, cli.Exitf(cli.ExitFail, "%s: no such process or job", ref)
	}
	return j.fromRecord(ref, rec), nil
}

// open takes a pidfd on t and checks, after opening, that the PID still
// belongs to the process that was looked up. A process that has already
// been reaped by then ended after the pidfd was taken (for the pidfd to be
// another's, the PID would have had to be freed, and handed out again after
// every other free PID, in between), so its pidfd is kept: the kernel keeps
// its exit status there.
func (j *joiner) open(t *target) error {
	p, err := procwait.Open(t.pid)
	if errors.Is(err, procwait.ErrGone) {
		j.gone(t)
		return nil
	}
	if err != nil {
		return err
	}
	st, err := p.ReadStat() // keeps /proc/PID/stat open, for the exit status of a zombie
	if err != nil && p.Exited() || err == nil && st.StartTime == t.start {
		t.proc = p
		return nil
	}
	p.Close()
	j.gone(t)
	return nil
}

// gone marks a target whose process vanished before a pidfd was taken:
// the record may know how it ended (its supervisor may be writing it),
// nothing else can.
func (j *joiner) gone(t *target) {
	if t.rec != nil {
		wait := 200 * time.Millisecond
		if t.rec.SupervisorGone(j.boot) {
			wait = 0
		}
		j.refresh(t, wait)
	}
	if !t.done {
		t.done, t.state = true, job.Unknown
		j.settle(t)
	}
}

// settle writes the end pjoin learnt of a job whose supervisor is gone,
// so that the record no longer says it runs: with its exit status if the
// pidfd held while it ran gave one, else as unknown. A record that cannot
// be written is said on standard error; the answer stands.
func (j *joiner) settle(t *target) {
	if t.rec == nil || t.rec.Final() || !j.supervisorGone(t) {
		return
	}
	// t.rec may have been read just before the supervisor wrote the end
	// and went: read it again now that nothing else will write it, and
	// take the end it holds.
	if rec, err := j.store.Read(t.rec.ID); err == nil && rec.Final() {
		t.rec = rec
		j.finish(t, rec)
		return
	}
	rec := *t.rec
	end := t.ended
	if end.IsZero() {
		end = time.Now()
	}
	rec.SetEnd(t.status.Known && t.status.Signal == 0, t.status.Code, int(t.status.Signal), end)
	if err := j.store.Write(&rec); err != nil {
		j.env.Warnf("%v", err)
		return
	}
	t.rec = &rec
}

func (j *joiner) fromRecord(ref string, rec *job.Record) *target {
	t := &target{ref: ref, rec: rec, pid: rec.PID, start: rec.StartTime, name: rec.Label(), state: rec.State}
	if rec.Final() {
		j.finish(t, rec)
		return t
	}
	if looping(rec) {
		j.openLoop(t)
		return t
	}
	if !rec.Is(j.boot) {
		// Gone, or the PID now belongs to another process: never wait on it.
		j.gone(t)
		return t
	}
	// A pidfd on the supervisor tells at the job's end, at the cost of a
	// poll, whether it is there to record the end.
	if t.sup = j.supervisor(rec); t.sup == nil && rec.SupervisorGone(j.boot) {
		t.state = job.Lost // it runs, and nothing will record its end
	}
	if err := j.open(t); err != nil {
		j.gone(t)
	}
	return t
}

// refreshWait bounds the wait for a record being written where pjoin
// cannot be woken by its writing.
const refreshWait = 500 * time.Millisecond

// refresh rereads t's record for up to wait, until it holds the end.
func (j *joiner) refresh(t *target, wait time.Duration) {
	deadline := time.Now().Add(wait)
	for {
		if rec, err := j.store.Read(t.rec.ID); err == nil {
			t.rec = rec
			if rec.Final() {
				j.finish(t, rec)
				return
			}
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// finish sets t's end from a final record.
func (j *joiner) finish(t *target, rec *job.Record) {
	t.done, t.state = true, rec.State
	if rec.Held {
		t.pid = rec.PID // the last run (0: it never ran)
	}
	if rec.Ended != nil {
		t.ended = *rec.Ended
	}
	switch {
	case rec.Signal != 0:
		t.status = procwait.Status{Known: true, Signal: syscall.Signal(rec.Signal)}
	case rec.ExitCode != nil:
		t.status = procwait.Status{Known: true, Code: *rec.ExitCode}
	}
}

// ended records the end of a process whose pidfd became readable.
func (j *joiner) ended(t *target) {
	t.done, t.ended = true, time.Now()
	if t.rec != nil && looping(t.rec) && t.state != job.Lost {
		j.endLoop(t)
		return
	}
	if t.rec != nil {
		switch {
		case t.rec.Copied:
			// The end of a job whose output its supervisor copies is
			// its record's, written once the copy has caught up, so
			// that pjoin --log then prints all of it.
			j.awaitRecord(t)
		case j.store.Changed(t.rec):
			// An unchanged record adds nothing to what was read before
			// the wait: the supervisor records a timeout before it stops
			// the job, and the end once it has reaped it.
			j.refresh(t, 0)
		}
		if t.status.Known {
			return
		}
	}
	t.status = t.proc.Status(t.start)
	if t.rec != nil {
		if !t.status.Known && !j.supervisorGone(t) {
			j.refresh(t, refreshWait) // the supervisor is writing it
			if t.status.Known {
				return
			}
		}
		if t.rec.TimedOut {
			t.state = job.Timeout
			j.settle(t)
			return
		}
	}
	switch {
	case !t.status.Known:
		t.state = job.Unknown
	case t.status.Signal != 0:
		t.state = job.Killed
	default:
		t.state = job.Exited
	}
	j.settle(t)
}

// supervisorGone is Record.SupervisorGone for t's record, through the
// pidfd taken on its supervisor where there is one.
func (j *joiner) supervisorGone(t *target) bool {
	if t.sup != nil {
		return t.sup.Exited()
	}
	return t.rec.SupervisorGone(j.boot)
}

// join waits for the targets and prints each as it ends.
func (j *joiner) join(targets []*target) error {
	want := 0
	var pending []*target
	done := 0
	for _, t := range targets {
		if t.missing {
			continue
		}
		want++
		if t.done {
			j.report(t)
			done++
		} else {
			pending = append(pending, t)
		}
	}
	if j.cli.Count > 0 && j.cli.Count < want {
		want = j.cli.Count
	}
	timeout := time.Duration(-1)
	var deadline time.Time
	if j.cli.Timeout > 0 {
		deadline = time.Now().Add(j.cli.Timeout.D())
	}
	for done < want && len(pending) > 0 {
		if !deadline.IsZero() {
			timeout = max(time.Until(deadline), 0)
		}
		procs := make([]*procwait.Proc, len(pending))
		for i, t := range pending {
			procs[i] = t.proc
		}
		ready, err := procwait.Wait(procs, timeout)
		if err != nil {
			return err
		}
		if len(ready) == 0 {
			return j.timedOut(pending)
		}
		for _, i := range ready {
			j.ended(pending[i])
			j.report(pending[i])
			done++
		}
		rest := pending[:0]
		for _, t := range pending {
			if !t.done {
				rest = append(rest, t)
			}
		}
		pending = rest
	}
	if j.first != 0 {
		return cli.Exit(j.first, nil)
	}
	return nil
}

// timedOut lists what still runs and exits 124.
func (j *joiner) timedOut(pending []*target) error {
	ids := make([]string, len(pending))
	for i, t := range pending {
		j.print(t)
		ids[i] = strconv.Itoa(t.pid)
	}
	return cli.Exitf(cli.ExitTimeout, "timed out after %s; still running: %s", j.cli.Timeout.D(), strings.Join(ids, " "))
}

// report prints an ended target and notes a failure.
func (j *joiner) report(t *target) {
	j.print(t)
	j.noteEnd(t)
}

// noteEnd notes an ended target's failure for the exit status.
func (j *joiner) noteEnd(t *target) {
	switch {
	case j.cli.Terminate || j.cli.Kill:
		// Ending them was the point; their codes are printed, not failures.
	case t.state == job.Timeout:
		j.fail(cli.ExitTimeout)
	case t.state == job.DependencyFailed:
		j.fail(cli.ExitFail) // never ran
	case t.state == job.Failed:
		j.fail(cli.ExitFail) // --max-restarts reached: 1, whatever the last run's code
	case !t.status.Known:
		if !j.cli.UnknownOK {
			j.fail(cli.ExitFail)
		}
	case t.status.Shell() != 0:
		j.fail(t.status.Shell())
	}
}

// code is the Python-style exit code: N, -SIG, ? unknown, or the state
// of a process that has not ended.
func (t *target) code() string {
	switch {
	case !t.done:
		return "-"
	case !t.status.Known:
		return "?"
	}
	return strconv.Itoa(t.status.Python())
}

// result is a target as --json prints it.
type result struct {
	ID             string   `json:"id,omitempty"`
	PID            int      `json:"pid"`
	Name           string   `json:"name"`
	State          string   `json:"state"`
	ExitCode       *int     `json:"exit_code"`
	Signal         *string  `json:"signal"`
	RuntimeSeconds *float64 `json:"runtime_seconds,omitempty"`
	Cmd            []string `json:"cmd,omitempty"`
	Runs           int      `json:"runs,omitempty"`
}

func (j *joiner) result(t *target) result {
	r := result{PID: t.pid, Name: t.name, State: t.state}
	if t.rec != nil {
		r.ID, r.Cmd, r.Runs = t.rec.ID, t.rec.Cmd, t.rec.Runs
	}
	if t.done && t.status.Known {
		if t.status.Signal != 0 {
			s := procwait.SignalName(t.status.Signal)
			r.Signal = &s
		}
		code := t.status.Python()
		r.ExitCode = &code
	}
	if rt, ok := t.runtime(); ok {
		secs := rt.Seconds()
		r.RuntimeSeconds = &secs
	}
	return r
}

// runtime is how long a job ran (or has run so far).
func (t *target) runtime() (time.Duration, bool) {
	if t.rec == nil {
		return 0, false
	}
	end := time.Now()
	if t.done && !t.ended.IsZero() {
		end = t.ended
	}
	return end.Sub(t.rec.Started).Round(time.Millisecond), true
}

// print writes one line: PID NAME CODE (--json: an object).
func (j *joiner) print(t *target) {
	if j.cli.JSON {
		b, _ := json.Marshal(j.result(t))
		j.out.Write(append(b, '\n'))
		return
	}
	j.line = t.appendLine(j.line[:0])
	j.out.Write(j.line)
}

// appendLine appends t's plain line, PID NAME CODE, to b.
func (t *target) appendLine(b []byte) []byte {
	b = strconv.AppendInt(b, int64(t.pid), 10)
	b = append(b, '\t')
	b = append(b, t.name...)
	b = append(b, '\t')
	if t.done {
		b = append(b, t.code()...)
	} else {
		b = append(b, job.Running...)
	}
	return append(b, '\n')
}
