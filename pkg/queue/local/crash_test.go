package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/reexec"
)

// The crash test re-executes the test binary as a producer or a consumer
// and kills it with SIGKILL at a random instant.
func TestMain(m *testing.M) {
	reexec.Main(m, map[string]func([]string) int{"producer": crashProducer, "consumer": crashConsumer})
}

const crashSegment = 64 << 10 // small, so that kills also hit segment rolls and deletions

// payload is the deterministic content of item name, so a torn or mixed-up
// item is recognised.
func payload(name string) []byte {
	n := int(crc32.ChecksumIEEE([]byte(name)) % 3000)
	return append([]byte(name+":"), bytes.Repeat([]byte{byte('a' + n%26)}, n)...)
}

func checkPayload(b []byte) (string, bool) {
	name, _, ok := bytes.Cut(b, []byte(":"))
	return string(name), ok && bytes.Equal(b, payload(string(name)))
}

func crashQueue(dir string) *Queue {
	b := New(dir, Options{SegmentSize: crashSegment})
	q, err := b.Ensure(context.Background(), "crash", queue.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	return q.(*Queue)
}

// crashProducer (args: DIR SEED) prints "ready" once the queue in DIR is
// open, then puts batches forever, naming items SEED-N, printing "ok NAME"
// for every item of a batch after Put returned and then "put
// NANOSECONDS", how long the Put took.
func crashProducer(args []string) int {
	q := crashQueue(args[0])
	seed := args[1]
	r := rand.New(rand.NewPCG(uint64(len(seed)), uint64(time.Now().UnixNano())))
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "ready")
	w.Flush()
	for i := 0; ; {
		n := 1 + r.IntN(40)
		batch := make([][]byte, n)
		names := make([]string, n)
		for j := range batch {
			names[j] = seed + "-" + strconv.Itoa(i+j)
			batch[j] = payload(names[j])
		}
		t0 := time.Now()
		if _, err := q.Put(context.Background(), batch, false); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		took := time.Since(t0)
		for _, name := range names {
			fmt.Fprintln(w, "ok", name)
		}
		fmt.Fprintln(w, "put", took.Nanoseconds())
		w.Flush()
		i += n
	}
}

// crashConsumer (args: DIR) prints "ready" once the queue in DIR is open,
// then leases items (held by itself), printing "got NAME" for each and
// then "leased" and, after Done returned, "done NAME".
func crashConsumer(args []string) int {
	q := crashQueue(args[0])
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "ready")
	w.Flush()
	for {
		items, err := q.Get(context.Background(), 5, queue.GetOptions{Lease: time.Hour, HolderPID: os.Getpid()})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		ids := make([]string, len(items))
		for i, it := range items {
			name, ok := checkPayload(it.Data)
			if !ok {
				fmt.Fprintf(w, "torn %q\n", it.Data)
			}
			fmt.Fprintln(w, "got", name)
			ids[i] = it.ID
		}
		fmt.Fprintln(w, "leased")
		w.Flush()
		if err := q.Done(context.Background(), ids...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		for _, it := range items {
			name, _ := checkPayload(it.Data)
			fmt.Fprintln(w, "done", name)
		}
		w.Flush()
	}
}

// killed is a child process in a role, to be killed with SIGKILL. Its
// output is read as it comes, so that the kill can wait for its progress.
type killed struct {
	role    string
	cmd     *exec.Cmd
	errb    bytes.Buffer
	started time.Time
	eof     chan struct{} // closed when its stdout is drained
	changed chan struct{} // gets a token when a line arrives

	mu    sync.Mutex
	lines []string
	ready time.Duration   // from start to "ready"; 0 before
	steps int             // "put" lines of a producer, "leased" of a consumer
	puts  []time.Duration // the producer's Put durations
}

func startRole(t *testing.T, dir, role, seed string) *killed {
	args := []string{dir}
	if role == "producer" {
		args = append(args, seed)
	}
	k := &killed{role: role, cmd: reexec.Command(role, args...), eof: make(chan struct{}), changed: make(chan struct{}, 1)}
	k.cmd.Stderr = &k.errb
	out, err := k.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	k.started = time.Now()
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(k.eof)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			l := sc.Text()
			k.mu.Lock()
			k.lines = append(k.lines, l)
			switch f := strings.Fields(l); {
			case l == "ready":
				k.ready = time.Since(k.started)
			case l == "leased":
				k.steps++
			case len(f) == 2 && f[0] == "put":
				k.steps++
				if ns, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					k.puts = append(k.puts, time.Duration(ns))
				}
			}
			k.mu.Unlock()
			select {
			case k.changed <- struct{}{}:
			default:
			}
		}
	}()
	return k
}

// progress returns how far the child has got.
func (k *killed) progress() (ready time.Duration, steps int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ready, k.steps
}

// waitSteps waits until the child is ready and has made steps steps (a
// negative steps does not wait), or patience has passed; it reports
// whether it got there.
func (k *killed) waitSteps(steps int, patience time.Duration) bool {
	if steps < 0 {
		return true
	}
	limit := time.After(patience)
	for {
		if ready, n := k.progress(); ready > 0 && n >= steps {
			return true
		}
		select {
		case <-k.changed:
		case <-k.eof:
			ready, n := k.progress()
			return ready > 0 && n >= steps
		case <-limit:
			return false
		}
	}
}

// kill kills the child and returns its output lines.
func (k *killed) kill() ([]string, error) {
	k.cmd.Process.Signal(syscall.SIGKILL)
	<-k.eof
	err := k.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return nil, fmt.Errorf("%s exited by itself: %v: %s", k.role, err, k.errb.String())
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lines, nil
}

// timings are what the test has measured of its children so far, so that
// the kills land inside the operations however slow the machine is.
type timings struct {
	startup []time.Duration // from start to "ready"
	put     []time.Duration // one Put
}

func median(ds []time.Duration, dflt time.Duration) time.Duration {
	if len(ds) == 0 {
		return dflt
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// plan is when to kill one child: after it has made steps steps (-1: at
// any time since its start, ready or not), plus delay.
type plan struct {
	steps int
	delay time.Duration
}

// pick chooses a kill point: one trial in five at a random instant of the
// start-up (opening or creating the queue), the others after 0–3 steps
// (Puts, or leases taken) plus a random part of a Put's typical duration,
// so that it lands before, inside or after the next Put, Get or Done.
func (tm *timings) pick(r *rand.Rand) plan {
	if r.IntN(5) == 0 {
		return plan{steps: -1, delay: randDur(r, 2*median(tm.startup, 30*time.Millisecond))}
	}
	return plan{steps: r.IntN(4), delay: randDur(r, 2*median(tm.put, 2*time.Millisecond))}
}

func randDur(r *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(r.Int64N(int64(d) + 1))
}

// TestKill9 kills producers mid-put and consumers holding leases, 100
// times each: every acknowledged put is delivered, nothing is torn, and an
// item is delivered twice only if a killed consumer had it and had not
// finished done. The kills are timed by the children's own progress and
// their measured speed, not by the clock alone, so that they hit the
// operations however loaded the machine is.
func TestKill9(t *testing.T) {
	trials := 100
	if testing.Short() {
		trials = 20
	}
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	consumed := 0
	acked := map[string]bool{}
	delivered := map[string]int{}
	lost := map[string]bool{} // got by a killed consumer, done not confirmed
	torn := 0
	var tm timings
	midPut := 0 // producers killed with their next put under way or about to start
	consume := func(lines []string) {
		finished := map[string]bool{}
		var got []string
		for _, l := range lines {
			switch f := strings.Fields(l); {
			case len(f) == 2 && f[0] == "got":
				delivered[f[1]]++
				consumed++
				got = append(got, f[1])
			case len(f) == 2 && f[0] == "done":
				finished[f[1]] = true
			case strings.HasPrefix(l, "torn"):
				torn++
			}
		}
		for _, name := range got {
			if !finished[name] {
				lost[name] = true
			}
		}
	}
	// Each trial runs a producer and a consumer at once and kills each at
	// its own point: mid-start, mid-put, mid-get, mid-done, or while the
	// other waits for the lock.
	for i := range trials {
		p := startRole(t, dir, "producer", "p"+strconv.Itoa(i))
		c := startRole(t, dir, "consumer", "")
		pp, cp := tm.pick(r), tm.pick(r)
		var wg sync.WaitGroup
		var perr, cerr error
		var pout, cout []string
		wg.Add(2)
		go func() {
			defer wg.Done()
			// A producer always progresses; a minute without is a hang.
			if !p.waitSteps(pp.steps, time.Minute) {
				perr = fmt.Errorf("producer: %d puts not done in a minute", pp.steps)
			}
			time.Sleep(pp.delay)
			out, err := p.kill()
			pout = out
			if perr == nil {
				perr = err
			}
		}()
		go func() {
			defer wg.Done()
			// A consumer may wait for items: then kill it waiting.
			c.waitSteps(cp.steps, 2*time.Second)
			time.Sleep(cp.delay)
			cout, cerr = c.kill()
		}()
		wg.Wait()
		if perr != nil || cerr != nil {
			t.Fatal(errors.Join(perr, cerr))
		}
		for _, k := range []*killed{p, c} {
			if ready, _ := k.progress(); ready > 0 {
				tm.startup = append(tm.startup, ready)
			}
		}
		tm.put = append(tm.put, p.puts...)
		if _, n := p.progress(); pp.steps > 0 && n == pp.steps {
			midPut++
		}
		for _, l := range pout {
			if name, ok := strings.CutPrefix(l, "ok "); ok {
				acked[name] = true
			}
		}
		consume(cout)
	}
	// Drain what is left: ready items and the killed consumers' leases,
	// which come back at once because their holders are dead.
	q := crashQueue0(t, dir)
	for {
		items, err := q.Get(context.Background(), 1000, queue.GetOptions{NoWait: true})
		if errors.Is(err, queue.ErrEmpty) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			name, ok := checkPayload(it.Data)
			if !ok {
				torn++
			}
			delivered[name]++
		}
	}
	st, err := q.Stats(context.Background())
	if err != nil || st.Ready != 0 || st.Leased != 0 {
		t.Errorf("after draining: %+v, %v", st, err)
	}
	missing, dups, unexplained := 0, 0, 0
	for name := range acked {
		if delivered[name] == 0 {
			missing++
		}
	}
	for name, n := range delivered {
		if n > 1 {
			dups += n - 1
			if !lost[name] {
				unexplained++
			}
		}
	}
	t.Logf("%d trials: %d items acknowledged by killed producers, %d distinct delivered (%d to killed consumers), %d redelivered after a consumer died holding the lease, %d lost, %d torn; %d producers killed with a put under way or about to start (median put %v, start-up %v)",
		trials, len(acked), len(delivered), consumed, dups, missing, torn, midPut, median(tm.put, 0), median(tm.startup, 0))
	if missing > 0 || torn > 0 || unexplained > 0 {
		t.Errorf("%d acknowledged items lost, %d torn, %d duplicates without a lost lease", missing, torn, unexplained)
	}
	if len(acked) == 0 {
		t.Error("no producer ever completed a put: the kills came too early to test anything")
	}
	if dups == 0 && !testing.Short() {
		t.Error("nothing was redelivered: no consumer was killed holding a lease")
	}
}

func crashQueue0(t *testing.T, dir string) queue.Queue {
	b := New(dir, Options{SegmentSize: crashSegment})
	q, err := b.Ensure(context.Background(), "crash", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}
