package pshm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/lifetime"
	"golang.org/x/sys/unix"
)

// defaultGrace is --grace's default: how long a command's process group
// has between TERM and KILL when pshm stops it.
const defaultGrace = cli.Duration(5 * time.Second)

// command strips the "--" kong passes through in front of a command.
func command(args []string) []string {
	if len(args) > 0 && args[0] == "--" {
		return args[1:]
	}
	return args
}

// subscribe starts catching the signals pshm passes on to its command
// argv, in the background: the subscription takes a round trip to the
// runtime's signal thread per signal, which overlaps with opening the
// object. Call ready before taking the lock or slot: from then on a signal
// must not kill pshm, which would leave the lock to a command that may not
// have started yet. It also starts the lifetime watchdog of the command's
// process group (whose members get grace between TERM and KILL) in the
// background; call done on the way out. Without a command (--acquire,
// --release) there is nothing to catch or watch: sigs and groups are nil,
// ready and done do nothing.
func subscribe(argv []string, grace time.Duration) (sigs chan os.Signal, groups *lifetime.Groups, ready, done func()) {
	if len(argv) == 0 {
		return nil, nil, func() {}, func() {}
	}
	sigs = make(chan os.Signal, 4)
	notified := make(chan struct{})
	go func() {
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
		close(notified)
	}()
	groups = lifetime.New(grace)
	groups.Prepare()
	return sigs, groups, func() { <-notified }, groups.Close
}

// runCommand runs argv with pshm's standard streams (and extra environment)
// as a job of its own process group and returns the group's ID (0 if the
// command did not start) and the exit status as an error: the command's
// own status, 128+N if signal N killed it, 126/127 if it could not be
// started. started is told the group's ID before the command is waited
// for; its error stops the command.
//
// A signal in sigs (subscribed with subscribe) is passed on to the whole
// group and makes pshm's status 128+N once the command has ended; a
// signal that came before the command started keeps it from starting. The
// group dies with pshm whatever kills pshm (groups, from subscribe), and
// members left behind by the command are stopped (TERM, then KILL after
// the grace period) before runCommand returns.
func runCommand(env *cli.Env, argv []string, sigs <-chan os.Signal, groups *lifetime.Groups, started func(pgid int) error, extraEnv ...string) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.Stdin, env.Stdout, env.Stderr
	if len(extraEnv) > 0 {
		cmd.Env = append(os.Environ(), extraEnv...)
	}
	cmd.SysProcAttr = lifetime.Attr()
	// In its own group the command would be in the background of the
	// terminal pshm runs in the foreground of, and stop at its first read:
	// give it the terminal (descriptor 0 in the child) for its run.
	fg := inForeground(env.Stdin)
	if fg {
		cmd.SysProcAttr.Foreground, cmd.SysProcAttr.Ctty = true, 0
	}
	select {
	case s := <-sigs:
		return 0, signalExit(s)
	default:
	}
	defer groups.Close()
	if fg {
		// Also when the exec fails: the child took the terminal first.
		defer takeTerminal(env.Stdin)
	}
	if err := groups.Start(); err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		switch {
		case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
			return 0, cli.Exitf(cli.ExitNotFound, "%s: command not found", argv[0])
		default:
			return 0, cli.Exitf(cli.ExitNotExec, "%s: %v", argv[0], errors.Unwrap(err))
		}
	}
	pgid := cmd.Process.Pid
	err := started(pgid)
	if err == nil {
		err = groups.Add(pgid)
	}
	if err != nil {
		syscall.Kill(-pgid, syscall.SIGKILL)
		cmd.Wait()
		return pgid, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var got os.Signal
	for {
		select {
		case s := <-sigs:
			// CONT after it, as timeout(1) does: a stopped group (a read
			// from a terminal it does not own, ^Z) would keep the signal
			// pending and pshm would wait for it forever.
			got = s
			syscall.Kill(-pgid, s.(syscall.Signal))
			syscall.Kill(-pgid, syscall.SIGCONT)
		case err := <-done:
			groups.Ended(pgid)
			groups.Close()
			if got != nil {
				return pgid, signalExit(got)
			}
			return pgid, exitStatus(err)
		}
	}
}

// signalExit is pshm's status after it caught s: 128+N.
func signalExit(s os.Signal) error {
	if n, ok := s.(syscall.Signal); ok {
		return cli.Exit(cli.ExitSignalBase+int(n), nil)
	}
	return cli.Exit(cli.ExitFail, nil)
}

// inForeground reports whether f is a terminal whose foreground process
// group is pshm's.
func inForeground(f *os.File) bool {
	if f == nil || !cli.IsTerminal(f) {
		return false
	}
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// takeTerminal makes pshm's group the foreground of terminal f again, so
// that the shell script that called pshm keeps its terminal. pshm is in
// the background while it asks, which the kernel answers with SIGTTOU
// unless that is ignored.
func takeTerminal(f *os.File) {
	signal.Ignore(syscall.SIGTTOU)
	defer signal.Reset(syscall.SIGTTOU)
	unix.IoctlSetPointerInt(int(f.Fd()), unix.TIOCSPGRP, unix.Getpgrp())
}

func exitStatus(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("wait for command: %w", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return cli.Exit(cli.ExitSignalBase+int(ws.Signal()), nil)
	}
	return cli.Exit(ee.ExitCode(), nil)
}
