package pjoin

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/job"
	"github.com/pkit-sh/pkit/pkg/proc"
	"github.com/pkit-sh/pkit/pkg/procwait"
)

// TestEndedRecord: the end of a job whose supervisor (here the test
// itself, the job's parent) lives. With the record as pjoin read it, the
// status is the kernel's and the record is left to the supervisor; a
// timeout the supervisor recorded before the end wins over the status.
func TestEndedRecord(t *testing.T) {
	t.Setenv("PKIT_DIR", t.TempDir())
	store, err := job.Open()
	if err != nil {
		t.Fatal(err)
	}
	self, err := proc.ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		timedOut bool // recorded after pjoin read the record
		state    string
		code     string
	}{
		{"unchanged", false, job.Exited, "3"},
		{"timed out", true, job.Timeout, "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			cmd := exec.Command("sh", "-c", "read x; exit 3")
			cmd.Stdin = r
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer w.Close()
			st, err := proc.ReadStat(cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			rec := &job.Record{ID: "j1", PID: cmd.Process.Pid, StartTime: st.StartTime, BootID: job.BootID(),
				Supervisor: os.Getpid(), SupervisorStart: self.StartTime, Started: time.Now(), State: job.Running}
			if err := store.Write(rec); err != nil {
				t.Fatal(err)
			}
			read, err := store.Read("j1")
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			j := &joiner{cli: &CLI{}, store: store, boot: job.BootID(), env: &cli.Env{Name: "pjoin", Stderr: &out}, out: &out}
			tg := j.fromRecord("j1", read)
			defer tg.close()
			if tg.proc == nil || tg.sup == nil || tg.done {
				t.Fatalf("target %+v: want a pidfd on the job and one on its supervisor", tg)
			}
			if tc.timedOut {
				rec.TimedOut = true
				if err := store.Write(rec); err != nil {
					t.Fatal(err)
				}
			}
			w.Close() // the job exits 3
			if ready, err := procwait.Wait([]*procwait.Proc{tg.proc}, 10*time.Second); err != nil || len(ready) != 1 {
				t.Fatalf("the job did not end: %v", err)
			}
			j.ended(tg)
			if tg.state != tc.state || tg.code() != tc.code {
				t.Errorf("state %s, code %s; want %s, %s", tg.state, tg.code(), tc.state, tc.code)
			}
			if now, err := store.Read("j1"); err != nil || now.State != job.Running {
				t.Errorf("record %+v, %v: pjoin wrote it while its supervisor lives", now, err)
			}
		})
	}
}
