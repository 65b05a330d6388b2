// Package cmd_test runs the real pkit binaries end to end with testscript:
// the scripts in testdata/script, and the examples of the README and the
// man pages (docs_test.go).
package cmd_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pkit-sh/pkit/pkg/reexec"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain: the test binary is every pkit binary and every test program
// too, by the name it is started under (see toolBin).
func TestMain(m *testing.M) {
	reexec.Main(m, programs())
}

// programs are the tools and the test programs by name.
func programs() map[string]func(args []string) int {
	all := scriptPrograms()
	for _, t := range tools {
		all[t.name] = t.main
	}
	return all
}

// toolBin is a new directory holding every program of programs, for PATH.
func toolBin(t *testing.T) string {
	return reexec.Bin(t, slices.Collect(maps.Keys(programs()))...)
}

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
