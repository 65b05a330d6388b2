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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/queue"
)

// The crash test re-executes the test binary as a producer or a consumer
// and kills it with SIGKILL at a random instant.
const (
	roleEnv = "PQUEUE_CRASH_ROLE"
	dirEnv  = "PQUEUE_CRASH_DIR"
	seedEnv = "PQUEUE_CRASH_SEED"
)

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "producer":
		crashProducer()
	case "consumer":
		crashConsumer()
	default:
		os.Exit(m.Run())
	}
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

func crashQueue() *Queue {
	b := New(os.Getenv(dirEnv), Options{SegmentSize: crashSegment})
	q, err := b.Ensure(context.Background(), "crash", queue.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	return q.(*Queue)
}

// crashProducer puts batches forever and prints "ok NAME" for every item
// of a batch after Put returned.
func crashProducer() {
	q := crashQueue()
	seed := os.Getenv(seedEnv)
	r := rand.New(rand.NewPCG(uint64(len(seed)), uint64(time.Now().UnixNano())))
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; {
		n := 1 + r.IntN(40)
		batch := make([][]byte, n)
		names := make([]string, n)
		for j := range batch {
			names[j] = seed + "-" + strconv.Itoa(i+j)
			batch[j] = payload(names[j])
		}
		if _, err := q.Put(context.Background(), batch, false); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		for _, name := range names {
			fmt.Fprintln(w, "ok", name)
		}
		w.Flush()
		i += n
	}
}

// crashConsumer leases items (held by itself), printing "got NAME" and,
// after Done returned, "done NAME".
func crashConsumer() {
	q := crashQueue()
	w := bufio.NewWriter(os.Stdout)
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

// killed is a child process in a role, to be killed with SIGKILL.
type killed struct {
	cmd       *exec.Cmd
	out, errb bytes.Buffer
}

func startRole(t *testing.T, dir, role, seed string) *killed {
	k := &killed{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	k.cmd.Env = append(os.Environ(), roleEnv+"="+role, dirEnv+"="+dir, seedEnv+"="+seed)
	k.cmd.Stdout, k.cmd.Stderr = &k.out, &k.errb
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return k
}

// kill kills the child and returns its output lines.
func (k *killed) kill(t *testing.T) []string {
	k.cmd.Process.Signal(syscall.SIGKILL)
	err := k.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("%s exited by itself: %v: %s", k.cmd.Env[len(k.cmd.Env)-3], err, k.errb.String())
	}
	return strings.Split(strings.TrimSpace(k.out.String()), "\n")
}

// TestKill9 kills producers mid-put and consumers holding leases, 100
// times each: every acknowledged put is delivered, nothing is torn, and an
// item is delivered twice only if a killed consumer had it and had not
// finished done.
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
	// Each trial runs a producer and a consumer at once and kills each
	// after its own random 2–30 ms: mid-put, mid-get, mid-done, or while
	// the other waits for the lock.
	for i := range trials {
		p := startRole(t, dir, "producer", "p"+strconv.Itoa(i))
		c := startRole(t, dir, "consumer", "")
		first, second := p, c
		if r.IntN(2) == 0 {
			first, second = c, p
		}
		time.Sleep(time.Duration(2+r.IntN(29)) * time.Millisecond)
		outs := map[*killed][]string{first: first.kill(t)}
		time.Sleep(time.Duration(r.IntN(10)) * time.Millisecond)
		outs[second] = second.kill(t)
		for _, l := range outs[p] {
			if name, ok := strings.CutPrefix(l, "ok "); ok {
				acked[name] = true
			}
		}
		consume(outs[c])
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
	t.Logf("%d trials: %d items acknowledged by killed producers, %d distinct delivered (%d to killed consumers), %d redelivered after a consumer died holding the lease, %d lost, %d torn",
		trials, len(acked), len(delivered), consumed, dups, missing, torn)
	if missing > 0 || torn > 0 || unexplained > 0 {
		t.Errorf("%d acknowledged items lost, %d torn, %d duplicates without a lost lease", missing, torn, unexplained)
	}
	if len(acked) == 0 {
		t.Error("no producer ever completed a put: the kills came too early to test anything")
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
