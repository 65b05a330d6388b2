package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pkit-sh/pkit/pkg/pshm"
	"github.com/pkit-sh/pkit/pkg/shm"
	"golang.org/x/sys/unix"
)

var pshmSuite = Suite{
	Name:  "pshm",
	About: "shared counter vs flock(1), per-call cost vs /bin/true and a hello-world Go binary, lock hand-off latency (" + beforeEnv + "=REV: also pshm lock at git revision REV)",
	Run:   benchPshm,
}

// handoffEnv makes the bench binary act as one side of the lock hand-off
// measurement (see handoffHelper) instead of running the benchmarks.
const handoffEnv = "PKIT_BENCH_PSHM_HANDOFF"

func init() {
	if role := os.Getenv(handoffEnv); role != "" {
		if err := handoffHelper(role); err != nil {
			fmt.Fprintln(os.Stderr, "handoff:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func benchPshm(b *Bench) error {
	// Releases are built without cgo (goreleaser: CGO_ENABLED=0); the
	// harness's default build links libc through os/user, which costs
	// ~0.5 ms per start. Measure what ships.
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", b.BinDir+"/", "./cmd/pshm")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build static pshm: %v: %s", err, out)
	}
	dir := b.TempDir()
	hello, err := b.Hello()
	if err != nil {
		return err
	}
	if err := buildModelFloor(dir, b.BinDir, "pshmfloor", pshm.Command()); err != nil {
		return err
	}
	id := strconv.Itoa(os.Getpid())
	c, lock := "pkit-bench-c."+id, "pkit-bench-l."+id
	defer exec.Command("pshm", "rm", "-f", c, lock).Run()
	file := filepath.Join(dir, "count")
	lockfile := filepath.Join(dir, "lockfile")

	// 2 processes × 2000 increments from shell loops; each case checks
	// that the total is exact, so a lost update fails the case.
	loop := func(body string) string {
		return fmt.Sprintf(`for p in 1 2; do (i=0; while [ $i -lt 2000 ]; do %s; i=$((i+1)); done) & done; wait`, body)
	}
	check := func(get, reset string) string {
		return fmt.Sprintf(`; n=$(%s); %s; [ "$n" = 4000 ] || { echo "lost updates: $n" >&2; exit 1; }`, get, reset)
	}
	if err := exec.Command("pshm", "create", c, "i64", "--exist-ok").Run(); err != nil {
		return err
	}
	os.WriteFile(file, []byte("0\n"), 0o644)
	const floor, add, flock = "floor: builds pshm's kong model, exits", "pshm add", "flock read/increment/write"
	m, err := b.Measure("2 processes × 2000 increments of a shared counter", 3,
		Case{Name: "/bin/true (fork+exec floor)", Shell: loop("/bin/true"), Base: true},
		Case{Name: "hello-world Go binary", Shell: loop(hello)},
		Case{Name: floor, Shell: loop("pshmfloor")},
		Case{Name: add, Shell: loop("pshm add "+c+" 1 >/dev/null") + check("pshm get "+c, "pshm set "+c+" 0")},
		Case{Name: flock, Needs: []string{"flock"},
			Shell: loop(fmt.Sprintf(`flock %s sh -c 'read n < %s; echo $((n+1)) > %s'`, lockfile, file, file)) + check("cat "+file, "echo 0 > "+file)},
	)
	if err != nil {
		return err
	}
	// The goals: no slower than flock(1) around a shell, and the
	// tool's own work at most 15% of a start of its kong model.
	b.Targets(m,
		Target{Case: add, Anchor: flock, Max: 1},
		Target{Case: add, Anchor: floor, Max: 1.15},
	)

	calls := func(body string) string {
		return fmt.Sprintf(`i=0; while [ $i -lt 200 ]; do %s; i=$((i+1)); done >/dev/null`, body)
	}
	err = b.Compare("200 calls, one process (startup cost)", 0,
		Case{Name: "/bin/true", Shell: calls("/bin/true"), Base: true},
		Case{Name: "hello-world Go binary", Shell: calls(hello)},
		Case{Name: "floor: builds pshm's kong model, exits", Shell: calls("pshmfloor")},
		Case{Name: "pshm get", Shell: calls("pshm get " + c)},
		Case{Name: "pshm add", Shell: calls("pshm add " + c + " 1")},
	)
	if err != nil {
		return err
	}
	cases := []Case{
		{Name: "pshm lock X -- true", Shell: calls("pshm lock " + lock + " -- /bin/true"), Base: true},
		{Name: "flock X true", Needs: []string{"flock"}, Shell: calls("flock " + lockfile + " /bin/true")},
	}
	before, rev, err := b.Before("pshm")
	if err != nil {
		return err
	}
	if before != "" {
		cases = append(cases, Case{Name: "pshm lock X -- true at " + rev, Shell: calls(before + " lock " + lock + ".before -- /bin/true")})
		defer exec.Command("pshm", "rm", "-f", lock+".before").Run()
	}
	if err := b.Compare("200 uncontended lock/unlock around /bin/true", 0, cases...); err != nil {
		return err
	}
	samples, err := handoff(id)
	if err != nil {
		return err
	}
	b.Report("lock hand-off between two processes (futex wake to acquisition)",
		Row{Name: "pshm lock hand-off", Samples: samples, Unit: "µs", Note: fmt.Sprintf("%d hand-offs; the waiter sleeps in FUTEX_WAIT", len(samples))})
	return nil
}

const handoffRounds = 200

// handoff runs two helper processes that pass a lock back and forth and
// returns the hand-off latencies in µs.
func handoff(id string) ([]float64, error) {
	lock, state := "pkit-bench-ho."+id, "pkit-bench-hs."+id
	defer shm.Remove(lock)
	defer shm.Remove(state)
	if _, err := shm.OpenOrCreate(lock, shm.Spec{Kind: shm.KindLock, Mode: 0o600}); err != nil {
		return nil, err
	}
	i64, _ := shm.ParseType("i64")
	// [0] release time (CLOCK_MONOTONIC ns), [1] acquisitions, [2…] latencies in ns
	st, _, err := shm.Create(state, shm.Spec{Kind: shm.KindValue, Type: i64, Len: 2 + handoffRounds, Mode: 0o600}, false, nil)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var cmds []*exec.Cmd
	for _, role := range []string{"first", "second"} {
		cmd := exec.Command("/proc/self/exe")
		cmd.Env = append(os.Environ(), handoffEnv+"="+role, "PKIT_BENCH_LOCK="+lock, "PKIT_BENCH_STATE="+state)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		cmds = append(cmds, cmd)
		time.Sleep(50 * time.Millisecond) // the first takes the lock before the second starts
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			return nil, fmt.Errorf("hand-off helper: %w", err)
		}
	}
	var us []float64
	for i := 0; i < handoffRounds; i++ {
		v, _ := st.Get(2 + i)
		if n := v.Int(); n > 0 {
			us = append(us, float64(n)/1000)
		}
	}
	return us, nil
}

func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// handoffHelper is one side of the hand-off: take the lock, record how long
// after the other side's release it came, hold it 2 ms (so the other side
// is asleep in FUTEX_WAIT), note the release time, release, wait until the
// other side has the lock, and queue for it again.
func handoffHelper(role string) error {
	lockObj, err := shm.Open(os.Getenv("PKIT_BENCH_LOCK"))
	if err != nil {
		return err
	}
	st, err := shm.Open(os.Getenv("PKIT_BENCH_STATE"))
	if err != nil {
		return err
	}
	me, err := shm.Self()
	if err != nil {
		return err
	}
	m, ctx := lockObj.Lock(), context.Background()
	i64, _ := shm.ParseType("i64")
	one := shm.Value{Type: i64, Bits: 1}
	for {
		if _, err := m.Lock(ctx, me); err != nil {
			return err
		}
		now := monotonic()
		n, _ := st.Add(1, one)
		round := int(n.Int()) - 1
		if round >= handoffRounds {
			m.Unlock(me) // the other side sees the count pass the end and stops too
			return nil
		}
		if rel, _ := st.Get(0); round > 1 && rel.Int() > 0 { // round 1: the second side was not yet waiting
			lat, _ := shm.ParseValue(i64, strconv.FormatInt(now-rel.Int(), 10))
			st.Set(2+round-1, []shm.Value{lat})
		}
		time.Sleep(2 * time.Millisecond)
		rel, _ := shm.ParseValue(i64, strconv.FormatInt(monotonic(), 10))
		st.Set(0, []shm.Value{rel})
		m.Unlock(me)
		// wait for the other side to take it (or for the end)
		err := st.WaitChange(ctx, func() (bool, error) {
			v, err := st.Get(1)
			return v.Int() != n.Int(), err
		}, nil)
		if err != nil {
			return err
		}
		if v, _ := st.Get(1); v.Int() > handoffRounds {
			return nil
		}
	}
}
