// Package pspawn implements the pspawn command: start a command in the
// background under a small resident supervisor that reaps it and records
// its exit status durably (pkg/job), with Python's Process options: daemon,
// timeout, stdio redirection and FIFOs, cwd, env, nice, and a foreground
// mode like subprocess.run.
package pspawn

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/job"
	"github.com/pkit-sh/pkit/pkg/proc"
	"github.com/pkit-sh/pkit/pkg/procwait"
)

// CLI is pspawn's command line.
type CLI struct {
	Copies    int          `short:"n" name:"copies" default:"1" placeholder:"N" help:"Start N copies; {#} in the arguments (and --name) is the copy number."`
	Name      *string      `name:"name" placeholder:"NAME" help:"Name the job (unique among running jobs); pjoin accepts it (default: none, only its id)."`
	Daemon    bool         `name:"daemon" help:"Terminate the job when the process that called pspawn exits (TERM, then KILL after --grace)."`
	Grace     cli.Duration `name:"grace" default:"5s" placeholder:"DUR" help:"Time between TERM and KILL whenever the job is stopped (--daemon, a signal, the supervisor's death)."`
	Detach    bool         `name:"detach" help:"Run in a new session, immune to SIGHUP: survives logout."`
	Timeout   cli.Duration `name:"timeout" placeholder:"DUR" help:"Send --signal to the job's process group after DUR; recorded as a timeout (default: no limit)."`
	KillAfter cli.Duration `name:"kill-after" placeholder:"DUR" help:"With --timeout: send KILL if the job still runs DUR after the signal (default: never)."`
	Signal    string       `name:"signal" short:"s" default:"TERM" placeholder:"SIG" help:"Signal sent on --timeout." completion-predictor:"signals"`
	Stdin     string       `name:"stdin" placeholder:"PATH" predictor:"file" help:"Read standard input from PATH, a file or FIFO (default: /dev/null)."`
	Stdout    string       `name:"stdout" placeholder:"PATH" predictor:"file" help:"Write standard output to PATH, a file or FIFO (default: the job's log)."`
	Stderr    string       `name:"stderr" placeholder:"PATH" predictor:"file" help:"Write standard error to PATH, a file or FIFO (default: the job's log)."`
	Append    bool         `name:"append" help:"Append to --stdout/--stderr files instead of truncating them."`
	Mkfifo    bool         `name:"mkfifo" help:"Create missing --stdin/--stdout/--stderr paths as FIFOs (mode 0600)."`
	Cwd       string       `name:"cwd" placeholder:"DIR" predictor:"file" help:"Run in DIR (default: the current directory)."`
	Env       []string     `name:"env" short:"e" sep:"none" placeholder:"K=V" help:"Set an environment variable (repeatable) (default: pspawn's environment as is)."`
	ClearEnv  bool         `name:"clear-env" help:"Start from an empty environment (only --env variables)."`
	Nice      int          `name:"nice" placeholder:"N" help:"Run at niceness N, as nice -n N (default: pspawn's own)."`
	Wait      bool         `name:"wait" short:"w" help:"Run in the foreground like subprocess.run: stdio attached, signals forwarded, exit with the job's status."`
	JSON      bool         `name:"json" help:"Print each job as a JSON object."`
	Restart
	Ready
	After
	Schedule
	LogMax
	Cmd []string `arg:"" passthrough:"partial" name:"command" help:"The command and its arguments (after --)."`
}

// Command returns pspawn's description for the shared CLI plumbing.
func Command() *cli.Command {
	return &cli.Command{Name: "pspawn", Help: "Start a command in the background, supervised, with its exit status recorded.", Grammar: &CLI{}}
}

// Main runs pspawn with args and returns its exit status. The same binary
// is also the supervisor and the FIFO-opening exec helper, chosen by an
// environment variable set only by pspawn itself.
func Main(args []string) int {
	switch os.Getenv(internalEnv) {
	case modeSupervise:
		return superviseMain()
	case modeExec:
		return execMain()
	}
	return cli.Run(Command(), args)
}

// internalEnv selects pspawn's internal modes in the processes it starts.
const (
	internalEnv   = "PKIT_PSPAWN_INTERNAL"
	execSpecEnv   = "PKIT_PSPAWN_EXEC"
	modeSupervise = "supervise"
	modeExec      = "exec"
)

// Run starts the jobs.
func (c *CLI) Run(env *cli.Env) error {
	sp, err := c.plan()
	if err != nil {
		return err
	}
	store, err := job.Open()
	if err != nil {
		return err
	}
	unlock, err := store.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := c.After.plan(sp, store); err != nil {
		return err
	}
	for i := range sp.Jobs {
		j := &sp.Jobs[i]
		if j.Name != "" {
			if r, err := store.Running(j.Name); err != nil {
				return err
			} else if r != nil {
				return cli.Exitf(cli.ExitFail, "job name %q is taken by running job %s (pid %d)", j.Name, r.ID, r.PID)
			}
		}
		if j.ID, err = store.NewID(); err != nil {
			return err
		}
		if !sp.Foreground && (c.Stdout == "" || c.Stderr == "") {
			j.Log = store.LogPath(j.ID)
		}
	}
	if sp.Foreground {
		unlock()
		return runForeground(store, sp, env.Stderr)
	}
	started, err := startSupervisors(sp)
	if err != nil {
		return err
	}
	for _, s := range started {
		if s.Error != "" {
			continue
		}
		switch {
		case c.JSON:
			b, _ := json.Marshal(s)
			fmt.Fprintf(env.Stdout, "%s\n", b)
		case s.PID == 0:
			fmt.Fprintf(env.Stdout, "%s\t-\n", s.ID) // --after: not started yet
		default:
			fmt.Fprintf(env.Stdout, "%s\t%d\n", s.ID, s.PID)
		}
	}
	return startError(started)
}

// plan checks the command line and turns it into the supervisor's spec.
func (c *CLI) plan() (*spec, error) {
	if len(c.Cmd) > 0 && c.Cmd[0] == "--" {
		c.Cmd = c.Cmd[1:]
	}
	if len(c.Cmd) == 0 {
		return nil, cli.Usagef("no command given (pspawn [flags] -- CMD [ARGS...])")
	}
	if c.Copies < 1 {
		return nil, cli.Usagef("-n %d: want at least 1", c.Copies)
	}
	if c.Daemon && c.Detach {
		return nil, cli.Usagef("--daemon and --detach contradict each other")
	}
	if c.KillAfter > 0 && c.Timeout == 0 {
		return nil, cli.Usagef("--kill-after needs --timeout")
	}
	sig, err := procwait.ParseSignal(c.Signal)
	if err != nil {
		return nil, cli.Usagef("--signal: %v", err)
	}
	if err := c.prepareStdio(); err != nil {
		return nil, err
	}
	sp := &spec{
		Stdin: c.Stdin, Stdout: c.Stdout, Stderr: c.Stderr, Append: c.Append,
		Cwd: c.Cwd, Nice: c.Nice, Detach: c.Detach, Foreground: c.Wait,
		Timeout: c.Timeout.D(), KillAfter: c.KillAfter.D(), Signal: int(sig),
		Grace: c.Grace.D(),
	}
	if c.Cwd != "" {
		if fi, err := os.Stat(c.Cwd); err != nil || !fi.IsDir() {
			return nil, cli.Usagef("--cwd %s: not a directory", c.Cwd)
		}
	}
	if sp.Env, err = c.environment(); err != nil {
		return nil, err
	}
	path, err := resolve(c.Cmd[0], c.Cwd, sp.Env)
	if err != nil {
		return nil, err
	}
	sp.Path = path
	for n := 1; n <= c.Copies; n++ {
		num := strconv.Itoa(n)
		j := jobSpec{Argv: make([]string, len(c.Cmd))}
		for i, a := range c.Cmd {
			j.Argv[i] = strings.ReplaceAll(a, "{#}", num)
		}
		if c.Name != nil {
			name := *c.Name
			if c.Copies > 1 && !strings.Contains(name, "{#}") {
				name += ".{#}"
			}
			j.Name = strings.ReplaceAll(name, "{#}", num)
			if err := cli.ValidName("job", j.Name); err != nil {
				return nil, err
			}
			if job.IsID(j.Name) {
				return nil, cli.Usagef("invalid job name %q: looks like a job id", j.Name)
			}
		}
		sp.Jobs = append(sp.Jobs, j)
	}
	if err := c.Restart.plan(sp); err != nil {
		return nil, err
	}
	if err := c.Ready.plan(sp); err != nil {
		return nil, err
	}
	if err := c.Schedule.plan(sp, time.Now()); err != nil {
		return nil, err
	}
	if err := c.LogMax.plan(sp); err != nil {
		return nil, err
	}
	if c.Daemon {
		sp.Caller = proc.Caller()
	}
	return sp, nil
}

// environment builds the job's environment.
func (c *CLI) environment() ([]string, error) {
	var env []string
	if !c.ClearEnv {
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, internalEnv+"=") && !strings.HasPrefix(kv, execSpecEnv+"=") {
				env = append(env, kv)
			}
		}
	}
	for _, kv := range c.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, cli.Usagef("--env %q: want K=V", kv)
		}
		env = setEnv(env, k, kv)
	}
	return env, nil
}

func setEnv(env []string, k, kv string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// prepareStdio makes the paths absolute (they are relative to the caller's
// directory, not --cwd, as shell redirections are), creates missing FIFOs
// for --mkfifo and checks the paths.
func (c *CLI) prepareStdio() error {
	for _, path := range []*string{&c.Stdin, &c.Stdout, &c.Stderr} {
		if *path == "" {
			continue
		}
		abs, err := filepath.Abs(*path)
		if err != nil {
			return fmt.Errorf("%s: %w", *path, err)
		}
		*path = abs
	}
	for _, p := range []string{c.Stdin, c.Stdout, c.Stderr} {
		if p == "" {
			continue
		}
		_, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) && c.Mkfifo:
			if err := syscall.Mkfifo(p, 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("mkfifo %s: %w", p, err)
			}
		case errors.Is(err, fs.ErrNotExist) && p == c.Stdin:
			return cli.Usagef("--stdin %s: no such file (use --mkfifo to create a FIFO)", p)
		}
	}
	return nil
}

// resolve finds the command as the shell would, so that "not found" (127)
// and "not executable" (126) are reported before pspawn returns.
func resolve(name, cwd string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if cwd != "" && !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		fi, err := os.Stat(p)
		if err != nil {
			return "", cli.Exitf(cli.ExitNotFound, "%s: command not found", name)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", cli.Exitf(cli.ExitNotExec, "%s: not executable", name)
		}
		return p, nil
	}
	pathVar := os.Getenv("PATH")
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	notExec := ""
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if fi.Mode()&0o111 == 0 || syscall.Access(p, 1) != nil {
			notExec = p
			continue
		}
		if !filepath.IsAbs(p) {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
		}
		return p, nil
	}
	if notExec != "" {
		return "", cli.Exitf(cli.ExitNotExec, "%s: not executable", notExec)
	}
	return "", cli.Exitf(cli.ExitNotFound, "%s: command not found", name)
}

// startSupervisor starts the resident supervisor, hands it the spec and
// waits for its report: the jobs it started and the ones that failed.
func startSupervisor(sp *spec) ([]started, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer specR.Close()
	defer specW.Close()
	repR, repW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer repR.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	// Errors after pspawn has returned (a record that cannot be written)
	// go to its standard error if that is a terminal or a file: a pipe or
	// socket held open by the supervisor would keep its reader waiting.
	errFd := devnull.Fd()
	if fi, err := os.Stderr.Stat(); err == nil && !sp.Detach && fi.Mode()&(fs.ModeNamedPipe|fs.ModeSocket) == 0 {
		errFd = os.Stderr.Fd()
	}
	fds := []uintptr{devnull.Fd(), devnull.Fd(), errFd, specR.Fd(), repW.Fd()}
	if sp.Caller > 0 {
		caller, err := procwait.Open(sp.Caller)
		if err != nil {
			repW.Close()
			return nil, fmt.Errorf("--daemon: watch caller: %w", err)
		}
		defer caller.Close()
		if fd := caller.FD(); fd >= 0 {
			fds = append(fds, uintptr(fd))
			sp.CallerFD = true
		}
	}
	// syscall.ForkExec, not os.StartProcess, which first forks a probe
	// child to test pidfd support: a fork saved on every pspawn.
	_, err = syscall.ForkExec(self, []string{"pspawn"}, &syscall.ProcAttr{
		Env:   append(os.Environ(), internalEnv+"="+modeSupervise, "GOGC=50"),
		Files: fds,
		Sys:   &syscall.SysProcAttr{Setpgid: !sp.Detach, Setsid: sp.Detach},
	})
	repW.Close()
	if err != nil {
		return nil, fmt.Errorf("start supervisor: %w", err)
	}
	if err := json.NewEncoder(specW).Encode(sp); err != nil {
		return nil, fmt.Errorf("send spec to supervisor: %w", err)
	}
	specW.Close()
	var out []started
	sc := bufio.NewScanner(repR)
	for sc.Scan() {
		var s started
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("supervisor report: %w", err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, errors.New("supervisor died before starting the job")
	}
	return out, nil
}

// started is the supervisor's report on one job, and pspawn's --json line.
type started struct {
	ID        string `json:"id"`
	PID       int    `json:"pid,omitempty"`
	Name      string `json:"name,omitempty"`
	StartTime uint64 `json:"start_time,omitempty"`
	Log       string `json:"log,omitempty"`
	Error     string `json:"error,omitempty"`
	Status    int    `json:"status,omitempty"` // exit status of a failed start
}

// startError turns the first failed start into pspawn's exit status.
func startError(all []started) error {
	for _, s := range all {
		if s.Error != "" {
			return cli.Exitf(s.Status, "%s", s.Error)
		}
	}
	return nil
}

// spec is what pspawn tells the supervisor.
type spec struct {
	Path       string
	Jobs       []jobSpec
	Env        []string
	Cwd        string
	Stdin      string
	Stdout     string
	Stderr     string
	Append     bool
	Nice       int
	Detach     bool
	Foreground bool
	Timeout    time.Duration
	KillAfter  time.Duration
	Signal     int
	Grace      time.Duration
	Caller     int  // --daemon: the PID to outlive no longer than
	CallerFD   bool // its pidfd is file descriptor 5
	Policy     restartPolicy
	Ready      readiness
	After      []dependency
	StartAt    time.Time // --in, --at
	LogMax     int64     // --log-max, bytes
}

// jobSpec is one copy.
type jobSpec struct {
	ID   string
	Name string
	Argv []string
	Log  string
	Run  int // --restart: the run's number, from 1
}
