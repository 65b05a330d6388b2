// Package cmd_test runs the real pkit binaries end to end with testscript:
// the scripts in testdata/script, and the examples of the README and the
// man pages (docs_test.go).
package cmd_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/pkit-sh/pkit/pkg/job"
	"github.com/pkit-sh/pkit/pkg/reexec"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain builds the pkit binaries once, with the race detector when the
// tests have it, into a directory that also links the test programs
// (scriptPrograms) to this test binary, and runs the tests with it; run
// under a test program's name, the binary is that program. Real binaries
// make the end-to-end run faster than starting this test binary, which
// links every tool, for every command a script runs.
func TestMain(m *testing.M) {
	reexec.Role(scriptPrograms())
	dir, err := os.MkdirTemp("", "pkit-bin-")
	if err == nil {
		err = buildTools(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cmd_test:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binDir is the directory TestMain made: see toolBin.
var binDir string

// buildTools builds every binary of tools into dir and links the test
// programs there to the test binary.
func buildTools(dir string) error {
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	for _, t := range tools {
		args = append(args, "./"+t.name)
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for name := range scriptPrograms() {
		if err := os.Symlink(self, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// toolBin is the directory of the pkit binaries and the test programs,
// for PATH. Tests must not change it.
func toolBin(*testing.T) string { return binDir }

// TestScript runs testdata/script/*.txtar. Run one tool's scripts with
// go test ./cmd -run 'TestScript/ptree_'.
func TestScript(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/script"))
}

// scriptParams is the testscript set-up shared by every end-to-end test:
// the programs on PATH, a private PKIT_DIR per script and the commands in
// scriptCmds.
func scriptParams(t *testing.T, dir string) testscript.Params {
	bin := toolBin(t)
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds:                scriptCmds(),
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("PKIT_DIR", filepath.Join(env.WorkDir, ".pkit"))
			env.Defer(func() { stopJobs(filepath.Join(env.WorkDir, ".pkit")) })
			env.Setenv("NO_COLOR", "1")
			// Race-built binaries otherwise sleep 1 s at exit, per exec.
			env.Setenv("GORACE", "atexit_sleep_ms=0")
			for _, k := range []string{"LANG", "TERM"} {
				if v := os.Getenv(k); v != "" {
					env.Setenv(k, v)
				}
			}
			return nil
		},
	}
}

// stopJobs stops the pspawn jobs a script left running in its PKIT_DIR,
// as a failed script does: each live supervisor gets TERM (which also ends
// a --restart loop or a held job), each job's group KILL.
func stopJobs(pkitDir string) {
	recs, err := (&job.Store{Dir: filepath.Join(pkitDir, "jobs")}).List()
	if err != nil {
		return
	}
	boot := job.BootID()
	for _, r := range recs {
		if r.Final() {
			continue
		}
		if r.Supervisor > 0 && !r.SupervisorGone(boot) {
			syscall.Kill(r.Supervisor, syscall.SIGTERM)
		}
		if r.PGID > 0 && r.Is(boot) {
			syscall.Kill(-r.PGID, syscall.SIGKILL)
		}
	}
}
