package cmd_test

import (
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/rogpeppe/go-internal/testscript"
)

// scriptCmds are the extra testscript commands available to every script.
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"waitfile": cmdWaitfile,
		"pidgone":  cmdPidgone,
		"until":    cmdUntil,
	}
}

// scriptPrograms are test programs that scripts run with exec (so also in
// the background or from sh -c), beside the pkit binaries.
func scriptPrograms() map[string]func(args []string) int {
	return map[string]func(args []string) int{
		"sockclient": sockclient,
	}
}

// waitfile FILE [DURATION]: wait (default 10s) until FILE exists and is not
// empty.
func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitfile FILE [DURATION]")
	}
	limit := 10 * time.Second
	if len(args) == 2 {
		d, err := cli.ParseDuration(args[1])
		ts.Check(err)
		limit = d
	}
	path := ts.MkAbs(args[0])
	if !poll(limit, func() bool {
		fi, err := os.Stat(path)
		return (err == nil && fi.Size() > 0) != neg
	}) {
		ts.Fatalf("waitfile %s: gave up after %v", filepath.Base(path), limit)
	}
}

// pidgone PID... [-t DURATION]: wait (default 5s) until no process has any
// of the PIDs (zombies count as present); with ! assert at once that all
// are still present.
func cmdPidgone(ts *testscript.TestScript, neg bool, args []string) {
	limit := 5 * time.Second
	var pids []int
	for i := 0; i < len(args); i++ {
		if args[i] == "-t" && i+1 < len(args) {
			d, err := cli.ParseDuration(args[i+1])
			ts.Check(err)
			limit = d
			i++
			continue
		}
		pid, err := strconv.Atoi(args[i])
		if err != nil {
			ts.Fatalf("pidgone: bad pid %q", args[i])
		}
		pids = append(pids, pid)
	}
	present := func() []int {
		var alive []int
		for _, p := range pids {
			if _, err := os.Stat("/proc/" + strconv.Itoa(p)); err == nil {
				alive = append(alive, p)
			}
		}
		return alive
	}
	if neg {
		if gone := len(pids) - len(present()); gone > 0 {
			ts.Fatalf("pidgone: %d of %d processes are gone", gone, len(pids))
		}
		return
	}
	if !poll(limit, func() bool { return len(present()) == 0 }) {
		ts.Fatalf("pidgone: still present after %v: %v", limit, present())
	}
}

// until [-t DURATION] PROGRAM [ARGS...]: run the program (as exec would)
// again and again until it succeeds, with ! until it fails; its last
// stdout and stderr are the script's, for stdout, stderr and cmp. Fails
// after DURATION (default 10s). This is how a script waits for a state it
// can observe, instead of sleeping.
func cmdUntil(ts *testscript.TestScript, neg bool, args []string) {
	limit := 10 * time.Second
	if len(args) > 2 && args[0] == "-t" {
		d, err := cli.ParseDuration(args[1])
		ts.Check(err)
		limit, args = d, args[2:]
	}
	if len(args) == 0 {
		ts.Fatalf("usage: until [-t DURATION] PROGRAM [ARGS...]")
	}
	var err error
	if !poll(limit, func() bool {
		err = ts.Exec(args[0], args[1:]...)
		return (err == nil) != neg
	}) {
		ts.Fatalf("until %s: gave up after %v (last: %v)", args[0], limit, err)
	}
}

// poll calls cond every 10 ms until it returns true, and reports whether
// it did within limit.
func poll(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
