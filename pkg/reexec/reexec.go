// Package reexec runs a test binary again as a child process in a role of
// the test's choosing: a tool, a fake tool that starts a job, a process
// that holds a lock until it is killed, a producer to kill at a random
// instant. It is for tests only; it is the one way pkit's tests do this.
//
// The child learns its role from its program name (argv[0]), so a
// directory of links to the test binary (Bin) puts the roles on $PATH
// under their own names, for scripts and for tools that run each other.
package reexec

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Main is a TestMain for a package whose tests re-run their binary: it
// runs the role the binary was started as (Role), else the tests.
func Main(m *testing.M, roles map[string]func(args []string) int) {
	Role(roles)
	os.Exit(m.Run())
}

// Role runs the role of roles that the binary was started as, by its
// program name, with the arguments after the name, and exits with its
// status. It returns when the name is none of them: the binary was
// started to run the tests. For a TestMain with more to do than Main.
func Role(roles map[string]func(args []string) int) {
	if run, ok := roles[filepath.Base(os.Args[0])]; ok {
		os.Exit(run(os.Args[1:]))
	}
}

// Command returns a command that runs the test binary as role with args.
// Its Env is set (callers append to it), with the race detector's
// second-long pause at exit switched off.
func Command(role string, args ...string) *exec.Cmd {
	cmd := exec.Command(self(), args...)
	cmd.Args[0] = role
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	return cmd
}

// Bin returns a new directory holding a symbolic link to the test binary
// under each of names, for $PATH: running one runs the test binary in that
// role.
func Bin(t testing.TB, names ...string) string {
	t.Helper()
	exe := self()
	dir := t.TempDir()
	for _, name := range names {
		if err := os.Symlink(exe, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// self is the test binary's path.
func self() string {
	exe, err := os.Executable()
	if err != nil {
		// os.Args[0] is how the go command started it: a path.
		return os.Args[0]
	}
	return exe
}
