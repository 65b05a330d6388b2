package pspawn

import (
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/pkit-sh/pkit/pkg/proc"
	"github.com/pkit-sh/pkit/pkg/procwait"
	"golang.org/x/sys/unix"
)

// supervisor starts the jobs of one pspawn call, reaps them and records how
// each ended. In the background it is a process of its own, one for all
// copies of -n; with --wait it is pspawn itself.
type supervisor struct {
	sp      *spec
	store   *job.Store
	boot    string
	mu      sync.Mutex
	running map[int]*job.Record // by PID, until reaped
	first   *job.Record         // the first job to fail, for --wait's status
}

// superviseMain is the resident supervisor: file descriptor 3 carries the
// spec, 4 takes the report of what was started, 5 (with --daemon) is a
// pidfd of pspawn's caller.
func superviseMain() int {
	// Inherited descriptors are not close-on-exec. Jobs get only 0, 1 and
	// 2, as with Python's close_fds: above all not the report pipe (pspawn
	// would wait for the job) or the caller's pidfd.
	if ents, err := os.ReadDir("/dev/fd"); err == nil {
		for _, e := range ents {
			if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
				syscall.CloseOnExec(fd)
			}
		}
	}
	specFile, report := os.NewFile(3, "spec"), os.NewFile(4, "report")
	var sp spec
	if err := json.NewDecoder(specFile).Decode(&sp); err != nil {
		fmt.Fprintf(report, "{\"error\":\"supervisor: bad spec: %v\",\"status\":1}\n", err)
		return 1
	}
	specFile.Close()
	if sp.Detach {
		signal.Ignore(syscall.SIGHUP)
	}
	store, err := job.Open()
	if err != nil {
		json.NewEncoder(report).Encode(started{Error: err.Error(), Status: cli.ExitFail})
		return 1
	}
	s := &supervisor{sp: &sp, store: store, boot: job.BootID(), running: map[int]*job.Record{}}
	becomeSubreaper()
	enc := json.NewEncoder(report)
	s.startAll(func(st started) { enc.Encode(st) })
	report.Close()
	if len(s.running) == 0 {
		return 1
	}
	if sp.Caller > 0 {
		var caller *procwait.Proc
		if sp.CallerFD {
			caller = procwait.Inherit(sp.Caller, 5)
		} else if caller, err = procwait.Open(sp.Caller); err != nil {
			caller = nil
			s.terminateAll(sp.Grace) // the caller is already gone
		}
		if caller != nil {
			go func() {
				if _, err := procwait.Wait([]*procwait.Proc{caller}, -1); err == nil {
					s.terminateAll(sp.Grace)
				}
			}()
		}
	}
	s.forwardSignals(false)
	s.reap()
	return 0
}

// runForeground is --wait: pspawn supervises its jobs itself, with the
// caller's stdio, and exits with the first failure's status.
func runForeground(store *job.Store, sp *spec) error {
	s := &supervisor{sp: sp, store: store, boot: job.BootID(), running: map[int]*job.Record{}}
	var failed *started
	s.startAll(func(st started) {
		if st.Error != "" && failed == nil {
			failed = &st
		}
	})
	if failed != nil && len(s.running) == 0 {
		return cli.Exitf(failed.Status, "%s", failed.Error)
	}
	s.forwardSignals(true)
	s.reap()
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
	return nil
}

// startAll starts every copy, records it as running and reports it. The
// niceness is set on this locked thread only: Linux keeps it per thread,
// and the children forked from the thread inherit it.
func (s *supervisor) startAll(report func(started)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if s.sp.Nice != 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, s.sp.Nice); err != nil {
			for _, j := range s.sp.Jobs {
				report(started{ID: j.ID, Error: fmt.Sprintf("--nice %d: %v", s.sp.Nice, err), Status: cli.ExitFail})
			}
			return
		}
	}
	for _, j := range s.sp.Jobs {
		rec, err := s.start(j)
		if err != nil {
			status := cli.ExitFail
			var pe *fs.PathError
			if errors.As(err, &pe) {
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
}

// start starts one copy and writes its running record.
func (s *supervisor) start(j jobSpec) (*job.Record, error) {
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
	ownGroup := !s.sp.Foreground
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = ^uintptr(0) // closed in the child
		if f != nil {
			fds[i] = f.Fd()
		}
	}
	// syscall.ForkExec rather than os.StartProcess: the latter first forks
	// a throw-away child to probe pidfd support, which costs a fork per
	// process, and the jobs are reaped by wait4(-1) in reap anyway.
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Dir: s.sp.Cwd, Env: env, Files: fds,
		Sys: &syscall.SysProcAttr{Setpgid: ownGroup},
	})
	if err != nil {
		return nil, &fs.PathError{Op: "exec", Path: j.Argv[0], Err: err}
	}
	st, err := proc.ReadStat(pid)
	if err != nil {
		return nil, fmt.Errorf("read started job %d: %w", pid, err)
	}
	cwd := s.sp.Cwd
	if cwd == "" {
		cwd, _ = os.Getwd()
	} else if abs, err := filepath.Abs(cwd); err == nil {
		cwd = abs
	}
	rec := &job.Record{
		ID: j.ID, Name: j.Name, PID: pid, StartTime: st.StartTime, BootID: s.boot,
		Cmd: j.Argv, Cwd: cwd, Log: j.Log, Supervisor: os.Getpid(),
		Started: time.Now(), State: job.Running,
	}
	if ownGroup {
		rec.PGID = pid
	}
	s.mu.Lock()
	s.running[pid] = rec
	s.mu.Unlock()
	if err := s.store.Write(rec); err != nil {
		return nil, err
	}
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
	s.store.Write(rec)
	s.signal(rec, syscall.Signal(s.sp.Signal))
	if s.sp.KillAfter > 0 {
		time.AfterFunc(s.sp.KillAfter, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.running[rec.PID] == rec {
				s.signal(rec, syscall.SIGKILL)
			}
		})
	}
}

// terminateAll is --daemon's end: TERM to every job, KILL after grace.
func (s *supervisor) terminateAll(grace time.Duration) {
	s.mu.Lock()
	for _, r := range s.running {
		s.signal(r, syscall.SIGTERM)
	}
	s.mu.Unlock()
	time.AfterFunc(grace, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, r := range s.running {
			s.signal(r, syscall.SIGKILL)
		}
	})
}

// signal sends sig to the job's process group, or to the job alone. The
// caller holds s.mu and the job is unreaped, so its PID cannot be reused.
func (s *supervisor) signal(rec *job.Record, sig syscall.Signal) {
	if rec.PGID > 0 {
		if syscall.Kill(-rec.PGID, sig) == nil {
			return
		}
	}
	syscall.Kill(rec.PID, sig)
}

// forwardSignals passes TERM, INT, HUP, QUIT, USR1 and USR2 sent to the
// supervisor on to the jobs. In the foreground, INT and QUIT typed at the
// terminal already reached the job, which shares our process group.
func (s *supervisor) forwardSignals(foreground bool) {
	sigs := []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}
	if !s.sp.Detach {
		sigs = append(sigs, syscall.SIGHUP)
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, sigs...)
	go func() {
		for sig := range ch {
			if foreground && (sig == syscall.SIGINT || sig == syscall.SIGQUIT) && terminalForeground() {
				continue
			}
			s.mu.Lock()
			for _, r := range s.running {
				s.signal(r, sig.(syscall.Signal))
			}
			s.mu.Unlock()
		}
	}()
}

// terminalForeground reports whether this process's group is the
// foreground group of the terminal on standard input.
func terminalForeground() bool {
	pgrp, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// reap waits for every child, jobs and the orphans it adopted as their
// subreaper, recording each job's end, until it has no child left: no
// descendant of a job is ever left a zombie while the supervisor lives.
func (s *supervisor) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			s.lost() // ECHILD with jobs left: only a foreign reaper can do that
			return
		}
		s.ended(pid, ws)
	}
}

func (s *supervisor) ended(pid int, ws syscall.WaitStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.running[pid]
	if !ok {
		return // an adopted orphan
	}
	delete(s.running, pid)
	sig := 0
	if ws.Signaled() {
		sig = int(ws.Signal())
	}
	rec.SetEnd(ws.Exited(), ws.ExitStatus(), sig, time.Now())
	s.store.Write(rec)
	failed := rec.TimedOut || sig != 0 || rec.ExitCode != nil && *rec.ExitCode != 0
	if failed && s.first == nil {
		s.first = rec
	}
}

// lost records the jobs not seen ending as unknown.
func (s *supervisor) lost() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, rec := range s.running {
		rec.SetEnd(false, 0, 0, time.Now())
		s.store.Write(rec)
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
// that) and moves them onto 0, 1 and 2.
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
	targets := []struct {
		path  string
		flags int
		fd    int
	}{{es.Stdin, unix.O_RDONLY, 0}, {es.Stdout, outFlags, 1}, {es.Stderr, outFlags, 2}}
	opened := map[string]int{}
	for _, t := range targets {
		if t.path == "" {
			continue // the log or /dev/null, set by the supervisor
		}
		fd, ok := opened[t.path]
		if !ok {
			var err error
			if fd, err = open(t.path, t.flags); err != nil {
				return fmt.Errorf("open %s: %w", t.path, err)
			}
			opened[t.path] = fd
		}
		if err := dup2(fd, t.fd); err != nil {
			return fmt.Errorf("redirect %s: %w", t.path, err)
		}
	}
	return nil
}
