package pspawn

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/job"
	"github.com/pkit-sh/pkit/pkg/lifetime"
	"github.com/pkit-sh/pkit/pkg/proc"
	"github.com/pkit-sh/pkit/pkg/procwait"
	"golang.org/x/sys/unix"
)

// supervisor starts the jobs of one pspawn call, reaps them and records how
// each ended. In the background it is a process of its own, one for all
// copies of -n; with --wait it is pspawn itself. Every job's process group
// is registered with groups, whose watchdog stops it if the supervisor
// dies, SIGKILL included.
type supervisor struct {
	sp     *spec
	store  *job.Store
	boot   string
	start  uint64 // the supervisor's own start time, for the records
	groups *lifetime.Groups
	errw   io.Writer             // where a record that cannot be written is reported
	tty    int                   // --wait: the terminal whose foreground the job gets, or -1
	pgid   int                   // --wait: the one process group of all copies, once started
	cont   chan os.Signal        // --wait with a terminal: SIGCONT, for stopped
	loop   *loop                 // --restart: the one job's loop, else nil
	ready  map[string]chan error // --ready-*: by job id, the answer of its first run
	log    *rotLog               // --log-max: the one job's log (one supervisor per job)
	slot   *slot                 // --slots: the one job's slot, once taken
	copied map[string][]*runOut  // by job id: the pipes its run's output goes through

	mu      sync.Mutex
	running map[int]*job.Record // by PID, until reaped
	first   *job.Record         // the first job to fail, for --wait's status
	caught  syscall.Signal      // the TERM, INT or HUP that ended the run
	recErr  error               // the first record that could not be written
}

func newSupervisor(sp *spec, store *job.Store, errw io.Writer) *supervisor {
	s := &supervisor{sp: sp, store: store, boot: job.BootID(), groups: lifetime.New(sp.Grace),
		errw: errw, tty: -1, running: map[int]*job.Record{}, copied: map[string][]*runOut{}}
	if sp.Policy.When != "" {
		s.loop = newLoop(&sp.Policy)
	}
	if st, err := proc.ReadStat(os.Getpid()); err == nil {
		s.start = st.StartTime
	}
	return s
}

// superviseMain is the resident supervisor: file descriptor 3 carries the
// spec, 4 takes the report of what was started, 5 (with --daemon) is a
// pidfd of pspawn's caller. Its standard error is pspawn's when that is a
// terminal or a file, else /dev/null.
func superviseMain() int {
	// Inherited descriptors are not close-on-exec. Jobs get only 0, 1 and
	// 2, as with Python's close_fds: above all not the report pipe (pspawn
	// would wait for the job) or the caller's pidfd.
	closeOnExecAbove(2)
	specFile, report := os.NewFile(3, "spec"), os.NewFile(4, "report")
	var sp spec
	if err := readWire(bufio.NewReaderSize(specFile, 512), &sp); err != nil {
		writeWire(report, &started{Error: fmt.Sprintf("supervisor: bad spec: %v", err), Status: cli.ExitFail})
		return 1
	}
	specFile.Close()
	if sp.Detach {
		signal.Ignore(syscall.SIGHUP)
	}
	store, err := job.Open()
	if err != nil {
		writeWire(report, &started{Error: err.Error(), Status: cli.ExitFail})
		return 1
	}
	s := newSupervisor(&sp, store, os.Stderr)
	defer s.close()
	becomeSubreaper()
	if sp.deferred() && !s.freeSlot() {
		// One job (startSupervisors): pspawn returns now, and the job
		// starts, or not, at its time, once its dependencies have ended
		// and once it has a slot. Until then a TERM ends the supervisor,
		// and the record is read as unknown.
		j := sp.Jobs[0]
		if !s.hold(j, func() {
			writeWire(report, &started{ID: j.ID, Name: j.Name, Log: j.Log})
			report.Close()
		}) {
			return 1
		}
		report = nil
	}
	s.handleSignals()
	var reported <-chan struct{} // --ready-*: closed once pspawn has its answers
	switch {
	case report == nil:
		s.startAll(func(st started) {
			if st.Error != "" {
				fmt.Fprintf(s.errw, "pspawn: %s\n", st.Error)
			}
		})
	case sp.Ready.on():
		reported = s.startReady(report)
	default:
		s.startAll(func(st started) { writeWire(report, &st) })
		report.Close()
	}
	if len(s.running) == 0 {
		return 1
	}
	if sp.Caller > 0 {
		var caller *procwait.Proc
		if sp.CallerFD {
			caller = procwait.Inherit(sp.Caller, 5)
		} else if caller, err = procwait.Open(sp.Caller); err != nil {
			caller = nil
			go s.groups.Stop() // the caller is already gone
		}
		if caller != nil {
			go func() {
				if _, err := procwait.Wait([]*procwait.Proc{caller}, -1); err == nil {
					s.groups.Stop()
				}
			}()
		}
	}
	s.reap()
	if reported != nil {
		<-reported
	}
	return 0
}

// closeOnExecListed marks the descriptors above fd listed in /dev/fd
// close-on-exec.
func closeOnExecListed(fd int) {
	if ents, err := os.ReadDir("/dev/fd"); err == nil {
		for _, e := range ents {
			if n, err := strconv.Atoi(e.Name()); err == nil && n > fd {
				syscall.CloseOnExec(n)
			}
		}
	}
}

// runForeground is --wait: pspawn supervises its jobs itself, with the
// caller's stdio, and exits with the first failure's status. The copies
// share one process group, as a shell's pipeline does, and when pspawn is
// in the foreground of its terminal that group is given the terminal for
// as long as it runs, so that keys typed there (^C, ^Z) reach the job.
func runForeground(store *job.Store, sp *spec, stderr io.Writer) error {
	s := newSupervisor(sp, store, stderr)
	defer s.groups.Close()
	s.tty = foregroundTerminal()
	if s.tty >= 0 {
		defer unix.Close(s.tty)
		s.cont = make(chan os.Signal, 1)
		signal.Notify(s.cont, syscall.SIGCONT)
	}
	s.handleSignals()
	var failed *started
	s.startAll(func(st started) {
		if st.Error != "" && failed == nil {
			failed = &st
		}
	})
	if failed != nil && len(s.running) == 0 {
		s.reclaimTerminal() // from a job killed as it could not be recorded
		return cli.Exitf(failed.Status, "%s", failed.Error)
	}
	s.reap()
	if s.reclaimTerminal() {
		// Another command of pspawn's pipeline that read the terminal
		// while the job had it was stopped (SIGTTIN): it goes on now.
		syscall.Kill(0, syscall.SIGCONT)
	}
	s.groups.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.caught != 0 {
		return cli.Exit(cli.ExitSignalBase+int(s.caught), nil)
	}
	if r := s.first; r != nil {
		switch {
		case r.TimedOut:
			return cli.Exit(cli.ExitTimeout, nil)
		case r.Signal != 0:
			return cli.Exit(cli.ExitSignalBase+r.Signal, nil)
		case r.ExitCode != nil:
			return cli.Exit(*r.ExitCode, nil)
		}
	}
	if failed != nil {
		return cli.Exitf(failed.Status, "%s", failed.Error)
	}
	if s.recErr != nil {
		return cli.Exit(cli.ExitFail, nil) // reported when it happened
	}
	return nil
}

// startAll starts every copy, records it as running and reports it.
func (s *supervisor) startAll(report func(started)) {
	unlock, err := s.niceThread()
	if err != nil {
		for _, j := range s.sp.Jobs {
			report(started{ID: j.ID, Error: fmt.Sprintf("--nice %d: %v", s.sp.Nice, err), Status: cli.ExitFail})
		}
		return
	}
	defer unlock()
	for _, j := range s.sp.Jobs {
		rec, err := s.startJob(j)
		if err != nil {
			status := cli.ExitFail
			var pe *fs.PathError
			if errors.As(err, &pe) && pe.Op == "exec" {
				switch pe.Err {
				case syscall.ENOENT:
					status = cli.ExitNotFound
				case syscall.EACCES, syscall.ENOEXEC, syscall.EISDIR:
					status = cli.ExitNotExec
				}
			}
			report(started{ID: j.ID, Name: j.Name, Error: err.Error(), Status: status})
			continue
		}
		report(started{ID: rec.ID, PID: rec.PID, Name: rec.Name, StartTime: rec.StartTime, Log: rec.Log})
	}
	// A TERM, INT or HUP that came while the jobs started reached only
	// the groups registered by then.
	s.mu.Lock()
	caught := s.caught
	s.mu.Unlock()
	if caught != 0 {
		s.stopAll(caught)
	}
}

// niceThread, for --nice, locks the goroutine to its thread and sets the
// thread's niceness, which Linux keeps per thread and the children forked
// from it inherit; the returned function unlocks it. Without --nice no
// thread is locked: a lock makes the runtime keep a thread of its own.
func (s *supervisor) niceThread() (unlock func(), err error) {
	if s.sp.Nice == 0 {
		return func() {}, nil
	}
	runtime.LockOSThread()
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, s.sp.Nice); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return runtime.UnlockOSThread, nil
}

// startJob starts one copy in its process group, registers the group and
// writes the job's running record. A job that cannot be registered or
// recorded is killed: it would run unprotected or unseen.
func (s *supervisor) startJob(j jobSpec) (*job.Record, error) {
	files, path, argv, env, err := s.stdio(j)
	defer func() {
		for _, f := range files {
			if f != nil && f != os.Stdin && f != os.Stdout && f != os.Stderr {
				f.Close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	var after []*os.File
	defer func() {
		for _, f := range after {
			f.Close()
		}
	}()
	if files, err = s.logPipe(j, files, &after); err != nil {
		return nil, err
	}
	if files, err = s.readyPipes(j, files, &after); err != nil {
		return nil, err
	}
	s.mu.Lock()
	copied := len(s.copied[j.ID]) > 0
	s.mu.Unlock()
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = ^uintptr(0) // closed in the child
		if f != nil {
			fds[i] = f.Fd()
		}
	}
	attr := lifetime.Attr()
	attr.Pgid = s.pgid
	if s.tty >= 0 && s.pgid == 0 {
		attr.Foreground, attr.Ctty = true, s.tty
	}
	// syscall.ForkExec rather than os.StartProcess: the latter first forks
	// a throw-away child to probe pidfd support, which costs a fork per
	// process, and the jobs are reaped by wait4(-1) in reap anyway.
	if err := s.groups.Start(); err != nil {
		return nil, err
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{Dir: s.sp.Cwd, Env: env, Files: fds, Sys: attr})
	if err != nil {
		return nil, &fs.PathError{Op: "exec", Path: j.Argv[0], Err: err}
	}
	pgid := pid
	if s.pgid != 0 {
		pgid = s.pgid
	} else if err := s.groups.Add(pgid); err != nil {
		syscall.Kill(-pgid, syscall.SIGKILL)
		return nil, err
	} else if s.sp.Foreground {
		s.pgid = pgid
	}
	s.slotRun(pgid)
	st, err := proc.ReadStat(pid)
	if err != nil {
		syscall.Kill(-pgid, syscall.SIGKILL)
		return nil, fmt.Errorf("read started job %d: %w", pid, err)
	}
	cwd := s.sp.Cwd
	if cwd == "" {
		cwd, _ = os.Getwd()
	} else if abs, err := filepath.Abs(cwd); err == nil {
		cwd = abs
	}
	rec := &job.Record{
		ID: j.ID, Name: j.Name, PID: pid, PGID: pgid, StartTime: st.StartTime, BootID: s.boot,
		Cmd: j.Argv, Cwd: cwd, Log: j.Log, Supervisor: os.Getpid(), SupervisorStart: s.start,
		Started: time.Now(), State: job.Running, Restart: s.sp.Policy.When, Runs: j.Run, Held: s.sp.held(), Copied: copied,
	}
	if err := s.store.Write(rec); err != nil {
		syscall.Kill(-pgid, syscall.SIGKILL)
		return nil, err
	}
	s.mu.Lock()
	s.running[pid] = rec
	s.mu.Unlock()
	if s.sp.Timeout > 0 {
		time.AfterFunc(s.sp.Timeout, func() { s.timeout(rec) })
	}
	return rec, nil
}

// stdio opens the job's standard files. A FIFO is opened in the job's own
// process, through the exec helper: opening it here would block until the
// other end shows up, and a blocking FIFO open ignores a caught SIGTERM.
func (s *supervisor) stdio(j jobSpec) (files []*os.File, path string, argv, env []string, err error) {
	path, argv, env = s.sp.Path, j.Argv, s.sp.Env
	if s.hasFIFO() {
		self, err := os.Executable()
		if err != nil {
			return nil, "", nil, nil, fmt.Errorf("find own executable: %w", err)
		}
		es := execSpec{Path: path, Argv: argv, Stdin: s.sp.Stdin, Stdout: s.sp.Stdout, Stderr: s.sp.Stderr, Append: s.sp.Append, Log: j.Log}
		b, _ := json.Marshal(es)
		env = append(append([]string(nil), env...), internalEnv+"="+modeExec, execSpecEnv+"="+string(b))
		path, argv = self, []string{"pspawn"}
		files = make([]*os.File, 3)
		if s.sp.Foreground {
			copy(files, []*os.File{os.Stdin, os.Stdout, os.Stderr})
		} else if files[0], err = os.Open(os.DevNull); err == nil && j.Log != "" {
			files[1], err = openOut(j.Log, true)
			files[2] = files[1]
		}
		return files, path, argv, env, err
	}
	files = make([]*os.File, 3)
	if s.sp.Foreground {
		copy(files, []*os.File{os.Stdin, os.Stdout, os.Stderr})
	}
	if s.sp.Stdin != "" {
		files[0], err = os.Open(s.sp.Stdin)
	} else if !s.sp.Foreground {
		files[0], err = os.Open(os.DevNull)
	}
	if err != nil {
		return files, "", nil, nil, fmt.Errorf("--stdin: %w", err)
	}
	var log *os.File
	out := func(p string) (*os.File, error) {
		switch {
		case p != "":
			return openOut(p, s.sp.Append)
		case j.Log == "":
			return nil, nil
		case log == nil:
			log, err = openOut(j.Log, true)
			return log, err
		}
		return log, nil
	}
	if f, err := out(s.sp.Stdout); err != nil {
		return files, "", nil, nil, fmt.Errorf("--stdout: %w", err)
	} else if f != nil {
		files[1] = f
	}
	if s.sp.Stderr != "" && s.sp.Stderr == s.sp.Stdout {
		files[2] = files[1]
	} else if f, err := out(s.sp.Stderr); err != nil {
		return files, "", nil, nil, fmt.Errorf("--stderr: %w", err)
	} else if f != nil {
		files[2] = f
	}
	return files, path, argv, env, nil
}

func (s *supervisor) hasFIFO() bool {
	for _, p := range []string{s.sp.Stdin, s.sp.Stdout, s.sp.Stderr} {
		if fi, err := os.Stat(p); p != "" && err == nil && fi.Mode()&os.ModeNamedPipe != 0 {
			return true
		}
	}
	return false
}

func openOut(path string, appendTo bool) (*os.File, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	return os.OpenFile(path, flags, 0o600)
}

// timeout stops a job that ran too long, as timeout(1) does: --signal to
// its process group, then KILL after --kill-after. The record says so
// before the job ends, so a waiter that sees the end reads it as a timeout.
func (s *supervisor) timeout(rec *job.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[rec.PID] != rec {
		return
	}
	rec.TimedOut = true
	s.write(rec)
	syscall.Kill(-rec.PGID, syscall.Signal(s.sp.Signal))
	if s.sp.KillAfter > 0 {
		time.AfterFunc(s.sp.KillAfter, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.running[rec.PID] == rec {
				syscall.Kill(-rec.PGID, syscall.SIGKILL)
			}
		})
	}
}

// handleSignals passes QUIT, USR1 and USR2 sent to the supervisor on to
// the jobs' groups. TERM, INT and HUP (not HUP with --detach) end the run:
// they are passed on too, with CONT for a stopped job, and what still runs
// after --grace is killed.
func (s *supervisor) handleSignals() {
	sigs := []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
	if !s.sp.Detach {
		sigs = append(sigs, syscall.SIGHUP)
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, sigs...)
	go func() {
		for sig := range ch {
			switch sig := sig.(syscall.Signal); sig {
			case syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2:
				s.groups.Signal(sig)
			default:
				s.mu.Lock()
				if s.caught == 0 {
					s.caught = sig
				}
				s.mu.Unlock()
				s.stopLoop()
				s.stopAll(sig)
			}
		}
	}()
}

// stopAll sends sig and CONT to every group, and KILL after the grace.
func (s *supervisor) stopAll(sig syscall.Signal) {
	s.groups.Signal(sig)
	s.groups.Signal(syscall.SIGCONT)
	time.AfterFunc(s.sp.Grace, func() { s.groups.Signal(syscall.SIGKILL) })
}

// reap waits for every child, jobs and the orphans it adopted as their
// subreaper, recording each job's end, until none is left but the
// watchdog (which ends with groups.Close): no descendant of a job is ever
// left a zombie while the supervisor lives.
func (s *supervisor) reap() {
	opts := 0
	if s.tty >= 0 {
		opts = syscall.WUNTRACED // job control: see stopped
	}
	for {
		s.mu.Lock()
		jobs := len(s.running)
		s.mu.Unlock()
		if jobs == 0 && s.groups.Empty() {
			s.reapOrphans()
			return
		}
		watchdog := s.groups.Watchdog()
		if jobs == 0 && !otherChildren(watchdog) {
			return
		}
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, opts, nil)
		switch {
		case err == syscall.EINTR:
		case err != nil:
			s.lost() // ECHILD with jobs left: only a foreign reaper can do that
			return
		case s.groups.Reaped(pid):
			// The watchdog, gone before its time (killed): the groups it
			// watched now depend on this process alone, as before it
			// started, and its PID is never signalled again.
		case ws.Stopped():
			s.stopped()
		default:
			if rec := s.ended(pid, ws); rec != nil {
				s.restart(rec)
			}
		}
	}
}

// reapOrphans ends the supervision once every job is recorded and every
// group is gone, the usual end: the watchdog has nothing left to watch and
// goes first, so that the children left, if any, are orphans that left
// their job's group, and wait4 until ECHILD reaps them without a look
// at /proc for the watchdog's sake.
func (s *supervisor) reapOrphans() {
	s.groups.Close()
	for {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(-1, &ws, 0, nil); err != nil && err != syscall.EINTR {
			return
		}
	}
}

// stopped is job control for --wait: the job was stopped (^Z typed at the
// terminal, or SIGTTIN), so pspawn takes the terminal back and stops its
// own process group, as if the job were the shell's. When the shell
// continues pspawn (fg or bg), pspawn gives the terminal back to the job
// if it is in the foreground again, and continues the job. A process
// group with no shell to continue it (orphaned) is not stopped by
// SIGTSTP: then the job is continued at once, as if ^Z had not been typed.
func (s *supervisor) stopped() {
	s.reclaimTerminal()
	if !orphanedGroup() {
		for len(s.cont) > 0 {
			<-s.cont // an earlier SIGCONT
		}
		syscall.Kill(0, syscall.SIGTSTP)
		<-s.cont
	}
	if fg, err := unix.IoctlGetInt(s.tty, unix.TIOCGPGRP); err == nil && fg == unix.Getpgrp() {
		s.giveTerminal(s.pgid)
	}
	syscall.Kill(-s.pgid, syscall.SIGCONT)
}

// orphanedGroup reports whether this process's group is orphaned: no
// member has a parent in another group of the same session, so no shell
// can continue it once stopped (the kernel's rule, POSIX's definition).
func orphanedGroup() bool {
	procs, err := proc.All()
	if err != nil {
		return true // as if: never stop without knowing who continues
	}
	byPID := make(map[int]proc.Stat, len(procs))
	for _, p := range procs {
		byPID[p.PID] = p
	}
	pgrp := unix.Getpgrp()
	for _, p := range procs {
		if p.PGRP != pgrp {
			continue
		}
		if parent, ok := byPID[p.PPID]; ok && parent.PGRP != pgrp && parent.Session == p.Session {
			return false
		}
	}
	return true
}

// reclaimTerminal makes pspawn's group the terminal's foreground again if
// the job's group still is (not after bg, when the shell has it), and
// reports whether it did.
func (s *supervisor) reclaimTerminal() bool {
	if s.tty < 0 || s.pgid == 0 {
		return false
	}
	if fg, err := unix.IoctlGetInt(s.tty, unix.TIOCGPGRP); err != nil || fg != s.pgid {
		return false
	}
	s.giveTerminal(unix.Getpgrp())
	return true
}

// giveTerminal makes pgid the terminal's foreground process group. From a
// background group that takes SIGTTOU ignored for the call; it is not
// ignored otherwise, since ignored signals stay so in the jobs.
func (s *supervisor) giveTerminal(pgid int) {
	signal.Ignore(syscall.SIGTTOU)
	defer signal.Reset(syscall.SIGTTOU)
	unix.IoctlSetPointerInt(s.tty, unix.TIOCSPGRP, pgid)
}

// ended records how the job that was process pid ended; with --restart
// it returns the record of a job to run again.
func (s *supervisor) ended(pid int, ws syscall.WaitStatus) *job.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.running[pid]
	if !ok {
		return nil // an adopted orphan
	}
	delete(s.running, pid)
	sig := 0
	if ws.Signaled() {
		sig = int(ws.Signal())
	}
	rec.SetEnd(ws.Exited(), ws.ExitStatus(), sig, time.Now())
	s.copiedOut(rec.ID)
	if s.loop == nil {
		// The record first, as soon as it holds the whole end: a waiter
		// (pjoin) reads it the moment the job has ended, and what follows
		// is this process's own bookkeeping.
		s.write(rec)
	}
	s.groups.Ended(rec.PGID)
	s.notReady(rec.ID)
	if s.loop != nil {
		return s.ranOut(rec)
	}
	failed := rec.TimedOut || sig != 0 || rec.ExitCode != nil && *rec.ExitCode != 0
	if failed && s.first == nil {
		s.first = rec
	}
	return nil
}

// write stores rec, saying so on standard error when it cannot: a record
// left saying "running" is read as lost, never as a success.
func (s *supervisor) write(rec *job.Record) {
	if err := s.store.Write(rec); err != nil {
		fmt.Fprintf(s.errw, "pspawn: %v\n", err)
		if s.recErr == nil {
			s.recErr = err
		}
	}
}

// lost records the jobs not seen ending as unknown.
func (s *supervisor) lost() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, rec := range s.running {
		rec.SetEnd(false, 0, 0, time.Now())
		s.write(rec)
		delete(s.running, pid)
	}
}

// execSpec tells the exec helper what to open before it becomes the job.
type execSpec struct {
	Path, Stdin, Stdout, Stderr, Log string
	Argv                             []string
	Append                           bool
}

// execMain is the exec helper: it opens the job's standard files in the
// job's own process (blocking on a FIFO until its other end is opened,
// where a signal still ends it), then executes the job in its place.
func execMain() int {
	var es execSpec
	if err := json.Unmarshal([]byte(os.Getenv(execSpecEnv)), &es); err != nil {
		fmt.Fprintf(os.Stderr, "pspawn: exec helper: %v\n", err)
		return cli.ExitFail
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != internalEnv && k != execSpecEnv {
			env = append(env, kv)
		}
	}
	if err := redirect(es); err != nil {
		fmt.Fprintf(os.Stderr, "pspawn: %v\n", err)
		return cli.ExitFail
	}
	err := unix.Exec(es.Path, es.Argv, env)
	fmt.Fprintf(os.Stderr, "pspawn: %s: %v\n", es.Argv[0], err)
	if err == unix.ENOENT {
		return cli.ExitNotFound
	}
	return cli.ExitNotExec
}

// redirect opens the helper's files with plain open(2) (os.OpenFile would
// make a FIFO non-blocking for Go's poller, and the job would inherit
// that) and moves them onto 0, 1 and 2. Two jobs joined by FIFOs in both
// directions (Python's Pipe()) must not wait for each other: a FIFO to
// read is opened first without blocking, which lets the other side's
// opening for writing through, then the files to write (each waits for
// its reader), and only then does the helper wait until the FIFO to read
// has had a writer, as a blocking open would.
func redirect(es execSpec) error {
	outFlags := unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC
	if es.Append {
		outFlags = unix.O_WRONLY | unix.O_CREAT | unix.O_APPEND
	}
	open := func(path string, flags int) (int, error) {
		for {
			fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o600)
			if err != unix.EINTR {
				return fd, err
			}
		}
	}
	var in int
	if es.Stdin != "" {
		fd, err := open(es.Stdin, unix.O_RDONLY|unix.O_NONBLOCK)
		if err != nil {
			return fmt.Errorf("open %s: %w", es.Stdin, err)
		}
		in = fd
	}
	opened := map[string]int{}
	for _, t := range []struct {
		path string
		fd   int
	}{{es.Stdout, 1}, {es.Stderr, 2}} {
		if t.path == "" {
			continue // the log, set by the supervisor
		}
		fd, ok := opened[t.path]
		if !ok {
			var err error
			if fd, err = open(t.path, outFlags); err != nil {
				return fmt.Errorf("open %s: %w", t.path, err)
			}
			opened[t.path] = fd
		}
		if err := dup2(fd, t.fd); err != nil {
			return fmt.Errorf("redirect %s: %w", t.path, err)
		}
	}
	if es.Stdin == "" {
		return nil // /dev/null, set by the supervisor
	}
	fd, err := awaitWriter(es.Stdin, in, open)
	if err != nil {
		return err
	}
	if err := dup2(fd, 0); err != nil {
		return fmt.Errorf("redirect %s: %w", es.Stdin, err)
	}
	return nil
}

// awaitWriter returns a blocking descriptor to read path, opened as nb
// (non-blocking), once a writer has opened the FIFO: a read before that
// would see end of file. A blocking open waits for a writer that comes
// (or is there); the poll of nb sees one that came and went meanwhile,
// leaving data or a hangup. The first to answer wins; the other is left
// blocked in its thread, which exec ends.
func awaitWriter(path string, nb int, open func(string, int) (int, error)) (int, error) {
	var st unix.Stat_t
	if err := unix.Fstat(nb, &st); err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFIFO {
		type result struct {
			fd  int
			err error
		}
		ready := make(chan result, 2)
		go func() {
			fd, err := open(path, unix.O_RDONLY)
			ready <- result{fd, err}
		}()
		go func() {
			fds := []unix.PollFd{{Fd: int32(nb), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err != unix.EINTR {
					ready <- result{nb, err}
					return
				}
			}
		}()
		r := <-ready
		if r.err != nil {
			return -1, fmt.Errorf("open %s: %w", path, r.err)
		}
		if r.fd != nb {
			return r.fd, nil
		}
	}
	if _, err := unix.FcntlInt(uintptr(nb), unix.F_SETFL, unix.O_RDONLY); err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	return nb, nil
}

// foregroundTerminal opens the controlling terminal if this process's group
// is its foreground group (pspawn -w run from an interactive shell), else
// returns -1.
func foregroundTerminal() int {
	fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	if fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP); err != nil || fg != unix.Getpgrp() {
		unix.Close(fd)
		return -1
	}
	return fd
}
