package pshm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/pkit-sh/pkit/pkg/cli"
)

// command strips the "--" kong passes through in front of a command.
func command(args []string) []string {
	if len(args) > 0 && args[0] == "--" {
		return args[1:]
	}
	return args
}

// runCommand runs argv with pshm's standard streams (and extra environment)
// and returns its exit status as an error: the command's own status, 128+N
// if signal N killed it, 126/127 if it could not be started. SIGINT,
// SIGTERM, SIGHUP and SIGQUIT are passed on to the command while pshm waits
// for it, so pshm always gets to release what it holds.
func runCommand(env *cli.Env, argv []string, extraEnv ...string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.Stdin, env.Stdout, env.Stderr
	if len(extraEnv) > 0 {
		cmd.Env = append(os.Environ(), extraEnv...)
	}
	// Subscribing to signals takes a round trip to the runtime's signal
	// thread per signal (~0.1 ms each here), so it overlaps with starting
	// the command. A signal in that window kills pshm; the lock it holds is
	// then recovered by the next taker. The subscription is left in place:
	// pshm only releases and exits after the command.
	sigs := make(chan os.Signal, 4)
	go signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	if err := cmd.Start(); err != nil {
		switch {
		case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
			return cli.Exitf(cli.ExitNotFound, "%s: command not found", argv[0])
		default:
			return cli.Exitf(cli.ExitNotExec, "%s: %v", argv[0], errors.Unwrap(err))
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			cmd.Process.Signal(s)
		case err := <-done:
			return exitStatus(err)
		}
	}
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
