package shm

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/reexec"
)

// The test binary doubles as the helper processes these tests start, one
// role per mode of helper.
func TestMain(m *testing.M) {
	roles := map[string]func([]string) int{}
	for _, mode := range []string{"add", "hold-lock", "hold-sem", "hold-lock-group", "hold-sem-group", "exclusive"} {
		roles[mode] = func(args []string) int { return helper(mode, args) }
	}
	reexec.Main(m, roles)
}

// helper modes:
//
//	add NAME M        add 1 to element 0, M times
//	hold-lock NAME    take the lock, print "held", sleep until killed
//	hold-sem NAME     take a semaphore slot, print "held", sleep until killed
//	hold-lock-group NAME PGID, hold-sem-group NAME PGID
//	                  the same, recording PGID as the group of the command
//	                  run under the lock or slot
//	exclusive NAME M  M times: lock, mark element 0 busy (CAS 0→1, must
//	                  succeed), bump element 1, unmark, unlock
func helper(mode string, args []string) int {
	name, arg := args[0], args[1]
	obj, err := Open(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	me, err := Self()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	n, _ := strconv.Atoi(arg)
	switch mode {
	case "add":
		one, _ := ParseDelta(obj.Type(), "1")
		for i := 0; i < n; i++ {
			if _, err := obj.Add(0, one); err != nil {
				return 3
			}
		}
	case "hold-lock", "hold-sem", "hold-lock-group", "hold-sem-group":
		lock := mode == "hold-lock" || mode == "hold-lock-group"
		if lock {
			_, err = obj.Lock().Lock(context.Background(), me)
		} else {
			_, err = obj.SemAcquire(context.Background(), me)
		}
		if err == nil && n > 0 {
			var g Owner
			if g, err = GroupOf(n); err == nil && lock {
				err = obj.Lock().SetGroup(me, g)
			} else if err == nil {
				err = obj.SemSetGroup(me, g)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		fmt.Println("held")
		time.Sleep(time.Minute)
	case "exclusive":
		t := obj.Type()
		zero, one, inc := Value{Type: t}, Value{Type: t, Bits: 1}, Value{Type: t, Bits: 1}
		for i := 0; i < n; i++ {
			if _, err := obj.Lock().Lock(context.Background(), me); err != nil {
				return 3
			}
			if ok, _, _ := obj.CAS(0, zero, one); !ok {
				fmt.Fprintln(os.Stderr, "overlap")
				return 4
			}
			obj.Add(1, inc)
			obj.CAS(0, one, zero)
			obj.Lock().Unlock(me)
		}
	}
	return 0
}

// isolate gives the test its own object directory.
func isolate(t *testing.T) {
	t.Setenv("PKIT_SHM_DIR", t.TempDir())
}

func helperCmd(t *testing.T, mode, name string, arg int) *exec.Cmd {
	cmd := reexec.Command(mode, name, strconv.Itoa(arg))
	cmd.Stderr = os.Stderr
	return cmd
}

func mustCreate(t *testing.T, name string, spec Spec) *Object {
	t.Helper()
	if spec.Mode == 0 {
		spec.Mode = 0o600
	}
	obj, _, err := Create(name, spec, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obj.Close(); Remove(name) })
	return obj
}

// TestAddExact: N processes × M atomic adds give exactly N×M for every
// integer width and for floats (compare-and-swap loop).
func TestAddExact(t *testing.T) {
	isolate(t)
	const procs, m = 4, 1000
	for _, ty := range []string{"i32", "i64", "u64", "f64", "u8", "i16"} {
		t.Run(ty, func(t *testing.T) {
			typ, _ := ParseType(ty)
			// two elements so 1- and 2-byte adds share their word with a neighbour
			obj := mustCreate(t, "add-"+ty, Spec{Kind: KindValue, Type: typ, Len: 2})
			var cmds []*exec.Cmd
			for p := 0; p < procs; p++ {
				c := helperCmd(t, "add", obj.Name, m)
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
				cmds = append(cmds, c)
			}
			for _, c := range cmds {
				if err := c.Wait(); err != nil {
					t.Fatal(err)
				}
			}
			v, _ := obj.Get(0)
			want := fmt.Sprint(procs * m)
			if typ.Size == 1 {
				want = fmt.Sprint(procs * m % 256)
			}
			if v.String() != want {
				t.Errorf("%s: got %s, want %s", ty, v, want)
			}
			if w, _ := obj.Get(1); w.String() != "0" {
				t.Errorf("%s: neighbour clobbered: %s", ty, w)
			}
		})
	}
}

// TestMutualExclusion: 4 processes take the lock 500 times each and check
// that nobody else is inside.
func TestMutualExclusion(t *testing.T) {
	isolate(t)
	typ, _ := ParseType("i64")
	obj := mustCreate(t, "mutex", Spec{Kind: KindValue, Type: typ, Len: 2})
	var cmds []*exec.Cmd
	for p := 0; p < 4; p++ {
		c := helperCmd(t, "exclusive", obj.Name, 500)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	if v, _ := obj.Get(1); v.String() != "2000" {
		t.Errorf("count %s, want 2000", v)
	}
}

// startHolder starts a helper that takes the lock or a slot and waits for
// it to say so.
func startHolder(t *testing.T, mode, name string) *exec.Cmd {
	t.Helper()
	return startHolderCmd(t, helperCmd(t, mode, name, 0))
}

// startHolderCmd starts helper c and waits for it to say "held".
func startHolderCmd(t *testing.T, c *exec.Cmd) *exec.Cmd {
	t.Helper()
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "held\n" {
		c.Process.Kill()
		c.Wait()
		t.Fatalf("holder: %q, %v", line, err)
	}
	return c
}

// TestLockRecovery, 100 trials: a holder is killed with SIGKILL while this
// process already waits for the lock; the waiter must take it over at once
// (it watches the holder's pidfd), and say so.
func TestLockRecovery(t *testing.T) {
	isolate(t)
	obj := mustCreate(t, "robust", Spec{Kind: KindLock})
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	m := obj.Lock()
	var worst time.Duration
	for trial := 0; trial < 100; trial++ {
		h := startHolder(t, "hold-lock", obj.Name)
		type result struct {
			rec *Owner
			err error
			at  time.Time
		}
		got := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := m.Lock(ctx, me)
			got <- result{r, err, time.Now()}
		}()
		if trial%2 == 0 {
			time.Sleep(2 * time.Millisecond) // let the waiter fall asleep first
		}
		killed := time.Now()
		h.Process.Signal(syscall.SIGKILL)
		r := <-got
		h.Wait()
		if r.err != nil || r.rec == nil || r.rec.PID != h.Process.Pid {
			t.Fatalf("trial %d: recovered %v, %v; want holder %d", trial, r.rec, r.err, h.Process.Pid)
		}
		worst = max(worst, r.at.Sub(killed))
		if err := m.Unlock(me); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("slowest recovery after SIGKILL: %v", worst)
	if worst > 2*time.Second {
		t.Errorf("recovery took %v", worst)
	}
}

// TestSemRecovery, 100 trials: all three holders of a 3-slot semaphore are
// killed; three acquirers get the slots back at once.
func TestSemRecovery(t *testing.T) {
	isolate(t)
	obj := mustCreate(t, "robust-sem", Spec{Kind: KindSem, Len: 3})
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	for trial := 0; trial < 100; trial++ {
		var hs []*exec.Cmd
		for i := 0; i < 3; i++ {
			hs = append(hs, startHolder(t, "hold-sem", obj.Name))
		}
		if ok, _ := obj.SemTryAcquire(me); ok {
			t.Fatal("a 4th slot was free")
		}
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := obj.SemAcquire(ctx, me) // sleeps until a holder dies
			done <- err
		}()
		for _, h := range hs {
			h.Process.Signal(syscall.SIGKILL)
		}
		for _, h := range hs {
			h.Wait()
		}
		if err := <-done; err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		for i := 0; i < 2; i++ {
			if ok, rec := obj.SemTryAcquire(me); !ok || rec == nil {
				t.Fatalf("trial %d: slot %d not reclaimed", trial, i)
			}
		}
		for i := 0; i < 3; i++ {
			if err := obj.SemRelease(me, false); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// startGroup starts a process leading a group of its own that lives until
// the test kills it, as the command run under a lock would.
func startGroup(t *testing.T) *exec.Cmd {
	t.Helper()
	c := exec.Command("sleep", "60")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	return c
}

// TestLockWaitsForGroup: the holder of a lock dies (SIGKILL) but the
// process group of its command lives on; the lock is not recovered until
// that group is gone, then at once (within the re-check interval).
func TestLockWaitsForGroup(t *testing.T) {
	isolate(t)
	obj := mustCreate(t, "grouped", Spec{Kind: KindLock})
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	m := obj.Lock()
	for trial := 0; trial < 5; trial++ {
		work := startGroup(t)
		h := helperCmd(t, "hold-lock-group", obj.Name, work.Process.Pid)
		h = startHolderCmd(t, h)
		if g, ok := m.Group(); !ok || g.PID != work.Process.Pid {
			t.Fatalf("recorded group %v %v, want %d", g, ok, work.Process.Pid)
		}
		h.Process.Signal(syscall.SIGKILL)
		h.Wait()
		if ok, rec := m.TryLock(me); ok {
			t.Fatalf("trial %d: TryLock recovered from %v while its command's group lives", trial, rec)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := m.Lock(ctx, me)
		cancel()
		if err != context.DeadlineExceeded {
			t.Fatalf("trial %d: Lock while the group lives: %v, want deadline exceeded", trial, err)
		}
		got := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rec, err := m.Lock(ctx, me)
			if err == nil && (rec == nil || rec.PID != h.Process.Pid) {
				err = fmt.Errorf("recovered %v, want holder %d", rec, h.Process.Pid)
			}
			got <- err
		}()
		time.Sleep(20 * time.Millisecond) // let the waiter sleep first
		killed := time.Now()
		work.Process.Kill()
		work.Wait()
		if err := <-got; err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if d := time.Since(killed); d > 2*time.Second {
			t.Errorf("trial %d: recovery took %v after the group ended", trial, d)
		}
		if _, ok := m.Group(); ok {
			t.Fatalf("trial %d: the dead holder's group is still recorded", trial)
		}
		if err := m.Unlock(me); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSemWaitsForGroup: the same for a semaphore slot; the other slot,
// whose holder lives, stays taken.
func TestSemWaitsForGroup(t *testing.T) {
	isolate(t)
	obj := mustCreate(t, "grouped-sem", Spec{Kind: KindSem, Len: 2})
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	other := startHolder(t, "hold-sem", obj.Name)
	defer func() { other.Process.Kill(); other.Wait() }()
	work := startGroup(t)
	h := startHolderCmd(t, helperCmd(t, "hold-sem-group", obj.Name, work.Process.Pid))
	h.Process.Signal(syscall.SIGKILL)
	h.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := obj.SemAcquire(ctx, me); err != context.DeadlineExceeded {
		t.Fatalf("SemAcquire while the group lives: %v, want deadline exceeded", err)
	}
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rec, err := obj.SemAcquire(ctx, me)
		if err == nil && (rec == nil || rec.PID != h.Process.Pid) {
			err = fmt.Errorf("recovered %v, want holder %d", rec, h.Process.Pid)
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	work.Process.Kill()
	work.Wait()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := obj.SemRelease(me, false); err != nil {
		t.Fatal(err)
	}
}

// TestOldSemLayout: a semaphore made by an older pshm (no group words:
// 8 data bytes a slot) still works, and a dead holder's slot in it is
// recovered at once as before.
func TestOldSemLayout(t *testing.T) {
	isolate(t)
	obj := mustCreate(t, "old-sem", Spec{Kind: KindSem, Len: 1})
	binary.LittleEndian.PutUint64(obj.mem[offDataSize:], 8)
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	old, err := Open("old-sem")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if old.semGroup(0) != nil {
		t.Fatal("an old semaphore has group words")
	}
	h := startHolder(t, "hold-sem", old.Name)
	h.Process.Signal(syscall.SIGKILL)
	h.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rec, err := old.SemAcquire(ctx, me); err != nil || rec == nil {
		t.Fatalf("SemAcquire: %v, %v", rec, err)
	}
	if err := old.SemSetGroup(me, Owner{PID: 1}); err != nil {
		t.Fatalf("SemSetGroup on an old semaphore: %v", err)
	}
	if err := old.SemRelease(me, false); err != nil {
		t.Fatal(err)
	}
}

// TestWaitTimeoutAndCancel: waits end with the context, and a wait that is
// cancelled while asleep returns promptly.
func TestWaitTimeoutAndCancel(t *testing.T) {
	isolate(t)
	obj := mustCreate(t, "ev", Spec{Kind: KindEvent})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := obj.EventWait(ctx); err != context.DeadlineExceeded {
		t.Fatalf("EventWait = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("timeout took %v", d)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel2() }()
	if err := obj.EventWait(ctx2); err != context.Canceled {
		t.Fatalf("EventWait = %v, want canceled", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := obj.EventWait(ctx); err != nil {
			t.Errorf("EventWait after set: %v", err)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	obj.EventSet()
	wg.Wait()
}

// TestDevShm creates a real /dev/shm object (unique name) and removes it.
func TestDevShm(t *testing.T) {
	if _, err := os.Stat("/dev/shm"); err != nil {
		t.Skip("no /dev/shm")
	}
	t.Setenv("PKIT_SHM_DIR", "")
	name := fmt.Sprintf("pkit-test-%d", os.Getpid())
	typ, _ := ParseType("u32")
	obj := mustCreate(t, name, Spec{Kind: KindValue, Type: typ, Len: 1, Mode: 0o600})
	if obj.Path != "/dev/shm/"+name {
		t.Errorf("path %s", obj.Path)
	}
	if _, _, err := Create(name, Spec{Kind: KindValue, Type: typ, Len: 1, Mode: 0o600}, false, nil); err == nil {
		t.Error("second create succeeded")
	}
}
