package cmd_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pspawnJob is the job script of the pspawn trials: a group of three
// processes, two levels deep, that never ends by itself.
var pspawnJob = []string{"sh", "-c", "sleep 30 & sh -c 'sleep 30 & wait' & wait"}

// TestLifetimePspawnWait: pspawn -w --timeout killed or signalled at a
// random instant, before or after its timeout: the job's whole group goes
// within the grace, and the record does not lie (checkPspawnRecord).
func TestLifetimePspawnWait(t *testing.T) {
	bin := toolBin(t)
	runLifeTrials(t, lifeTrial{
		tool: "pspawn",
		args: func(string) []string {
			return append([]string{"-w", "--timeout", "0.4", "--grace", "0.3", "--"}, pspawnJob...)
		},
		grace: 300 * time.Millisecond,
		delay: 700 * time.Millisecond,
		check: func(t *testing.T, dir string) any { return checkPspawnRecord(t, bin, dir) },
	})
}

// TestLifetimePspawnSupervisor: the background supervisor of a job
// killed or signalled at a random instant, found from the job's record:
// its watchdog (or the supervisor itself, for a caught signal) stops the
// job's group within the grace, and the record does not lie.
func TestLifetimePspawnSupervisor(t *testing.T) {
	bin := toolBin(t)
	runLifeTrials(t, lifeTrial{
		tool: "pspawn",
		args: func(string) []string {
			return append([]string{"--timeout", "0.4", "--grace", "0.3", "--"}, pspawnJob...)
		},
		grace:  300 * time.Millisecond,
		delay:  700 * time.Millisecond,
		target: pspawnSupervisor,
		check:  func(t *testing.T, dir string) any { return checkPspawnRecord(t, bin, dir) },
	})
}

// pspawnSupervisor waits (10 s at most) for job j1's record and returns its
// supervisor's PID.
func pspawnSupervisor(t *testing.T, dir string) int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rec struct {
			Supervisor int `json:"supervisor"`
		}
		b, err := os.ReadFile(filepath.Join(dir, ".pkit", "jobs", "j1.json"))
		if err == nil && json.Unmarshal(b, &rec) == nil && rec.Supervisor > 0 {
			return rec.Supervisor
		}
		if time.Now().After(deadline) {
			t.Fatalf("no record of j1 with a supervisor after 10 s: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkPspawnRecord: job j1 (if it was started at all) ended with its
// supervisor; pjoin --status says how, never "running" or "lost", and
// pjoin j1 fails: 124 after a timeout, else with "?" and status 1 exactly
// when the end could not be known (its supervisor died first).
func checkPspawnRecord(t *testing.T, bin, dir string) any {
	if _, err := os.Stat(filepath.Join(dir, ".pkit", "jobs", "j1.json")); errors.Is(err, os.ErrNotExist) {
		return nil // killed before the job started
	}
	pjoin := func(args ...string) (string, int) {
		cmd := exec.Command(filepath.Join(bin, "pjoin"), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PKIT_DIR="+filepath.Join(dir, ".pkit"), "GORACE=atexit_sleep_ms=0")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	status, _ := pjoin("--status", "j1")
	f := strings.Split(strings.TrimSpace(status), "\t")
	if len(f) < 5 {
		return fmt.Sprintf("pjoin --status j1: %q", status)
	}
	state, code := f[3], f[4]
	out, rc := pjoin("j1")
	switch {
	case state == "running" || state == "lost":
		return fmt.Sprintf("job still %s after its owner's end: %q", state, status)
	// An unknown end is a failure: 1, or 124 when the timeout had
	// fired before the owner died (the record knows that much).
	case state == "unknown" && (code != "?" || rc != 1 && rc != 124 || !regexp.MustCompile(`\tj1\t\?\n$`).MatchString(out)):
		return fmt.Sprintf("an unknown end: want ? and exit 1 (124 after a timeout), got status %q, pjoin j1 %q exit %d", status, out, rc)
	case state == "timeout" && rc != 124:
		// Its code may be unknown (the supervisor died after the timeout
		// fired), not that it timed out.
		return fmt.Sprintf("status %q, pjoin j1 %q exit %d: want 124 for a timeout", status, out, rc)
	case state != "unknown" && state != "timeout" && (code == "?" || rc == 0):
		return fmt.Sprintf("status %q, pjoin j1 %q exit %d: a known end of a stopped job is a failure", status, out, rc)
	}
	return nil
}
