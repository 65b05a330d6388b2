package pspawn

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/job"
)

func TestParseBackoff(t *testing.T) {
	for _, c := range []struct {
		in       string
		min, max time.Duration
		bad      bool
	}{
		{in: "0", min: 0, max: time.Minute},
		{in: "1", min: time.Second, max: time.Minute},
		{in: "200ms:2", min: 200 * time.Millisecond, max: 2 * time.Second},
		{in: "2m", min: 2 * time.Minute, max: 2 * time.Minute},
		{in: "2:1", bad: true},
		{in: "x", bad: true},
		{in: "1:", bad: true},
	} {
		lo, hi, err := parseBackoff(c.in)
		if (err != nil) != c.bad || !c.bad && (lo != c.min || hi != c.max) {
			t.Errorf("parseBackoff(%q) = %v, %v, %v", c.in, lo, hi, err)
		}
	}
}

// TestLoop: the delays double from MIN up to MAX within ±10%, a long run
// resets them, and --max-restarts within --within stops the loop.
func TestLoop(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	p := restartPolicy{When: "always", Min: 100 * time.Millisecond, Max: time.Second, MaxRestarts: 3, Within: 10 * time.Second}
	l := newLoop(&p)
	l.rnd = rand.New(rand.NewPCG(seed, 0))
	now := time.Now()
	code := 1
	rec := &job.Record{ExitCode: &code, Started: now}
	for i, want := range []time.Duration{100, 200, 400} {
		restart, d, failed := l.again(rec, now)
		want *= time.Millisecond
		if !restart || failed || d < want*9/10 || d > want*11/10 {
			t.Fatalf("restart %d: %v %v %v, want a delay of %v ±10%%", i+1, restart, d, failed, want)
		}
	}
	if restart, _, failed := l.again(rec, now); restart || !failed {
		t.Fatalf("4th restart within 10 s: want failed")
	}
	// Out of the window, and after a run longer than MAX: from MIN again.
	later := now.Add(11 * time.Second)
	rec.Started = later.Add(-2 * time.Second)
	if restart, d, failed := l.again(rec, later); !restart || failed || d > 110*time.Millisecond {
		t.Fatalf("after the window and a long run: %v %v %v", restart, d, failed)
	}
	// on-failure stops at a success; a stop request stops the loop.
	p.When = "on-failure"
	code = 0
	if restart, _, failed := l.again(rec, later); restart || failed {
		t.Fatal("on-failure restarted a success")
	}
	code = 1
	close(l.stop)
	if restart, _, _ := l.again(rec, later); restart {
		t.Fatal("restarted after a stop request")
	}
}
