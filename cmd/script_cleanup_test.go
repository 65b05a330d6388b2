package cmd_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/job"
	"github.com/pkit-sh/pkit/pkg/lifetime"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestLeftJobsStopped: a job a script leaves running (as a failed script
// does) is stopped when the script ends, not left to outlive the tests.
func TestLeftJobsStopped(t *testing.T) {
	dir := t.TempDir()
	script := "exec pspawn -- sleep 100\nstdout '^j1\\t'\n"
	if err := os.WriteFile(filepath.Join(dir, "leave.txtar"), []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	var rec *job.Record
	p := scriptParams(t, dir)
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		// Deferred first, so run last: after the clean-up under test.
		env.Defer(func() {
			rec, _ = (&job.Store{Dir: filepath.Join(env.WorkDir, ".pkit", "jobs")}).Read("j1")
		})
		return setup(env)
	}
	t.Run("script", func(t *testing.T) { testscript.Run(t, p) }) // returns once it has run
	if rec == nil || rec.PGID <= 0 {
		t.Fatalf("no record of the job: %+v", rec)
	}
	if !lifetime.AwaitGone(rec.PGID, 10*time.Second) {
		syscall.Kill(-rec.PGID, syscall.SIGKILL)
		t.Fatalf("the job's group %d still runs after its script", rec.PGID)
	}
}
