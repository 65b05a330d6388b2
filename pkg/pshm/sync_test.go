package pshm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
)

// holdOpts are the flags lock and sem share.
type holdOpts struct {
	argv             []string
	timeout          time.Duration
	acquire, release bool
	owner            int
}

// TestHold pins what pshm lock and pshm sem print and exit with: the
// command's status, a timeout while a live process holds the lock or slot,
// a recovery from a dead holder (stderr and $PSHM_RECOVERED), and a release
// of what the owner does not hold.
func TestHold(t *testing.T) {
	t.Setenv("PKIT_SHM_DIR", t.TempDir())
	for _, tc := range []struct {
		kind      string
		cmd       func(holdOpts) interface{ Run(*cli.Env) error }
		recovered string // stderr of a recovery from the PID in %d
		notHeld   func(pid int) string
	}{
		{
			kind: "lock",
			cmd: func(o holdOpts) interface{ Run(*cli.Env) error } {
				return &lockCmd{Name: "l", Cmd: o.argv, Timeout: cli.Duration(o.timeout), Acquire: o.acquire, Release: o.release, Owner: o.owner}
			},
			recovered: "pshm: lock l: recovered from dead holder PID %d\n",
			notHeld:   func(int) string { return "pshm: release l: lock is not held by this owner (it is free)\n" },
		},
		{
			kind: "sem",
			cmd: func(o holdOpts) interface{ Run(*cli.Env) error } {
				return &semCmd{Name: "s", Cmd: o.argv, Timeout: cli.Duration(o.timeout), Acquire: o.acquire, Release: o.release, Owner: o.owner}
			},
			recovered: "pshm: sem s: recovered a slot from dead holder PID %d\n",
			notHeld:   func(pid int) string { return fmt.Sprintf("pshm: s: no slot held by PID %d\n", pid) },
		},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			run := func(o holdOpts, wantCode int, wantStdout, wantStderr string) {
				t.Helper()
				var stdout, stderr bytes.Buffer
				env := &cli.Env{Name: "pshm", Stdin: os.Stdin, Stdout: &stdout, Stderr: &stderr}
				code := cli.Report(env, tc.cmd(o).Run(env))
				if code != wantCode || stdout.String() != wantStdout || stderr.String() != wantStderr {
					t.Errorf("%+v: exit %d, stdout %q, stderr %q; want %d, %q, %q", o, code, stdout.String(), stderr.String(), wantCode, wantStdout, wantStderr)
				}
			}
			run(holdOpts{argv: []string{"--", "sh", "-c", "echo out; exit 3"}}, 3, "out\n", "")

			owner := exec.Command("sleep", "60")
			if err := owner.Start(); err != nil {
				t.Fatal(err)
			}
			pid := owner.Process.Pid
			run(holdOpts{acquire: true, owner: pid}, 0, "", "")
			run(holdOpts{argv: []string{"--", "echo", "never"}, timeout: 50 * time.Millisecond}, cli.ExitTimeout, "", "pshm: timed out after 50ms\n")

			owner.Process.Kill()
			owner.Wait()
			run(holdOpts{argv: []string{"--", "sh", "-c", "echo $PSHM_RECOVERED"}}, 0, strconv.Itoa(pid)+"\n", fmt.Sprintf(tc.recovered, pid))
			run(holdOpts{release: true, owner: pid}, cli.ExitFail, "", tc.notHeld(pid))
		})
	}
}
