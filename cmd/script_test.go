// Package cmd_test runs the real pkit binaries end to end with testscript:
// the scripts in testdata/script, and the examples of the README and the
// man pages (docs_test.go).
package cmd_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/pkit-sh/pkit/pkg/job"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	cmds := make(map[string]func(), len(tools))
	for _, t := range tools {
		main := t.main
		cmds[t.name] = func() { os.Exit(main(os.Args[1:])) }
	}
	for name, main := range scriptPrograms() {
		cmds[name] = func() { os.Exit(main(os.Args[1:])) }
	}
	testscript.Main(m, cmds)
}

// TestScript runs testdata/script/*.txtar. Run one tool's scripts with
// go test ./cmd -run 'TestScript/ptree_'.
func TestScript(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script"))
}

// scriptParams is the testscript set-up shared by every end-to-end test:
// a private PKIT_DIR per script and the commands in scriptCmds.
func scriptParams(dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds:                scriptCmds(),
		Setup: func(env *testscript.Env) error {
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
