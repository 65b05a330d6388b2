package shm

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the helper processes these tests start: with
// SHM_TEST_HELPER set, TestMain runs the helper instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("SHM_TEST_HELPER"); mode != "" {
		os.Exit(helper(mode, os.Args[len(os.Args)-2:]))
	}
	os.Exit(m.Run())
}

// helper modes:
//
//	add NAME M        add 1 to element 0, M times
//	hold-lock NAME    take the lock, print "held", sleep until killed
//	hold-sem NAME     take a semaphore slot, print "held", sleep until killed
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
	case "hold-lock", "hold-sem":
		if mode == "hold-lock" {
			_, err = obj.Lock().Lock(context.Background(), me)
		} else {
			_, err = obj.SemAcquire(context.Background(), me)
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
	cmd := exec.Command(os.Args[0], "-test.run=^$", name, strconv.Itoa(arg))
	cmd.Env = append(os.Environ(), "SHM_TEST_HELPER="+mode)
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
	c := helperCmd(t, mode, name, 0)
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
