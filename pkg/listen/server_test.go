package listen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testServer is a Server running on a fresh listener for one test.
type testServer struct {
	addr    Addr
	srv     *Server
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	records []Record
}

func serve(t *testing.T, addr string, cfg Config) *testServer {
	t.Helper()
	a, err := ParseAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Listen(a)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: l.Addr, done: make(chan error, 1)}
	cfg.OnDone = func(r Record) {
		ts.mu.Lock()
		ts.records = append(ts.records, r)
		ts.mu.Unlock()
	}
	if cfg.Grace == 0 {
		cfg.Grace = 2 * time.Second
	}
	ts.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- ts.srv.Serve(ctx, l) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop shuts the server down and waits until every handler is reaped.
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	ts.cancel()
	select {
	case err, ok := <-ts.done:
		if ok && err != nil {
			t.Errorf("Serve: %v", err)
		}
		if ok {
			close(ts.done)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
}

func (ts *testServer) recs() []Record {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]Record(nil), ts.records...)
}

func (ts *testServer) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(ts.addr.Network, ts.addr.Address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// request sends in, half-closes and returns everything the server sent.
func request(c net.Conn, in string) (string, error) {
	defer c.Close()
	if _, err := io.WriteString(c, in); err != nil {
		return "", err
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	out, err := io.ReadAll(c)
	return string(out), err
}

func TestEchoUpperConcurrent(t *testing.T) {
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"tr", "a-z", "A-Z"}, Jobs: 16, CountBytes: true})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", ts.addr.Address, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			in := strings.Repeat(fmt.Sprintf("client %d says hello\n", i), 100+i)
			got, err := request(c, in)
			if err != nil || got != strings.ToUpper(in) {
				errs <- fmt.Errorf("client %d: got %d bytes (%v), want %d", i, len(got), err, len(in))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ts.stop(t)
	recs := ts.recs()
	if len(recs) != 50 {
		t.Fatalf("%d records, want 50", len(recs))
	}
	for _, r := range recs {
		if r.Exit != 0 || r.BytesIn <= 0 || r.BytesIn != r.BytesOut || !strings.HasPrefix(r.Peer, "127.0.0.1:") {
			t.Errorf("record %+v", r)
		}
	}
}

func TestByteCounts(t *testing.T) {
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"sh", "-c", "cat >/dev/null; printf 1234567"}, CountBytes: true})
	if got, err := request(ts.dial(t), strings.Repeat("x", 100000)); err != nil || got != "1234567" {
		t.Fatalf("got %q, %v", got, err)
	}
	ts.stop(t)
	r := ts.recs()[0]
	if r.BytesIn != 100000 || r.BytesOut != 7 {
		t.Fatalf("bytes in %d out %d; want 100000 7", r.BytesIn, r.BytesOut)
	}
}

// The bound holds: with -j 2, ten slow clients are all served, never more
// than two handlers at a time; the others wait in the backlog.
func TestJobsBound(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	script := fmt.Sprintf(`echo + >> %s; sleep 0.2; echo - >> %s; echo ok`, log, log)
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"sh", "-c", script}, Jobs: 2})
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := request(ts.dial(t), ""); got != "ok\n" || err != nil {
				t.Errorf("got %q, %v", got, err)
			}
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(log)
	running, peak := 0, 0
	for _, l := range strings.Fields(string(b)) {
		if l == "+" {
			running++
		} else {
			running--
		}
		peak = max(peak, running)
	}
	if peak != 2 || len(strings.Fields(string(b))) != 20 {
		t.Fatalf("peak %d concurrent (want 2), log %q", peak, b)
	}
}

func TestUnixPeerCred(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	ts := serve(t, "unix:"+path, Config{Command: []string{"sh", "-c", `echo "$PROTO $UNIXREMOTEPID $UNIXREMOTEUID $UNIXLOCALPATH {}"; env | grep -c ^TCP || true`}})
	got, err := request(ts.dial(t), "")
	want := fmt.Sprintf("UNIX %d %d %s pid=%d,uid=%d\n0\n", os.Getpid(), os.Getuid(), path, os.Getpid(), os.Getuid())
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	ts.stop(t)
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket not removed on shutdown: %v", err)
	}
}

func TestTCPEnv(t *testing.T) {
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"sh", "-c", `echo "$PROTO $TCPLOCALIP:$TCPLOCALPORT $TCPREMOTEIP:$TCPREMOTEPORT $1"`, "sh", "{}"}})
	c := ts.dial(t)
	local := c.LocalAddr().String()
	got, err := request(c, "")
	want := fmt.Sprintf("TCP %s %s %s\n", ts.addr.Address, local, local)
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

func TestShellQuotesPlaceholders(t *testing.T) {
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"echo", "{}", "{#}", "{%};", "echo", "$PROTO"}, Shell: "sh", Jobs: 1})
	c := ts.dial(t)
	local := c.LocalAddr().String()
	if got, err := request(c, ""); err != nil || got != local+" 1 1\nTCP\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// A client that vanishes mid-stream (RST) frees its slot: the next client
// of a one-slot server is served.
func TestDisconnectDoesNotWedge(t *testing.T) {
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	t.Cleanup(func() { devnull.Close() }) // after the server's cleanup
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"sh", "-c", "cat; yes"}, Jobs: 1, Stderr: devnull})
	for i := range 3 {
		c := ts.dial(t)
		io.WriteString(c, "partial")
		buf := make([]byte, 7)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	done := make(chan string)
	go func() {
		c := ts.dial(t)
		defer c.Close()
		c.(*net.TCPConn).CloseWrite()
		got := make([]byte, 2)
		io.ReadFull(c, got)
		done <- string(got)
	}()
	select {
	case got := <-done:
		if got != "y\n" {
			t.Fatalf("last client got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("slot wedged by a vanished client")
	}
}

func TestTimeoutAndIdle(t *testing.T) {
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"sh", "-c", "cat; sleep 30"}, Timeout: 300 * time.Millisecond, Grace: 200 * time.Millisecond})
	start := time.Now()
	if _, err := request(ts.dial(t), "x"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	ts.stop(t)
	if r := ts.recs()[0]; r.Ended != "timeout" || r.Signal != 15 || r.Exit != 143 {
		t.Fatalf("record %+v", r)
	}

	ts = serve(t, "127.0.0.1:0", Config{Command: []string{"cat"}, Idle: 300 * time.Millisecond})
	c := ts.dial(t)
	for range 4 { // activity keeps it alive
		time.Sleep(150 * time.Millisecond)
		io.WriteString(c, "ping")
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("active connection cut: %v", err)
		}
	}
	idleClosed(t, ts, c, 16)
}

// idleClosed checks that the server, with Idle 300ms, closes c once it
// has been quiet that long, and records n bytes each way.
func idleClosed(t *testing.T, ts *testServer, c net.Conn, n int64) {
	t.Helper()
	start := time.Now()
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("idle connection closed after %v, want ~300ms", d)
	}
	ts.stop(t)
	if r := ts.recs()[0]; r.Ended != "idle" || r.BytesIn != n || r.BytesOut != n {
		t.Fatalf("record %+v", r)
	}
}

// On a Unix socket the kernel counts nothing, so --idle and byte counts
// relay the connection through a socket pair.
func TestUnixRelay(t *testing.T) {
	ts := serve(t, "unix:"+filepath.Join(t.TempDir(), "s"), Config{Command: []string{"sh", "-c", "wc -c; echo done >&2"}, StderrToClient: true, CountBytes: true})
	in := strings.Repeat("0123456789", 100000)
	if got, err := request(ts.dial(t), in); err != nil || strings.Fields(got)[0] != "1000000" || !strings.HasSuffix(got, "\ndone\n") {
		t.Fatalf("got %q, %v", got, err)
	}
	ts.stop(t)
	if r := ts.recs()[0]; r.BytesIn != int64(len(in)) || r.BytesOut < 13 {
		t.Fatalf("record %+v", r)
	}

	ts = serve(t, "unix:"+filepath.Join(t.TempDir(), "s"), Config{Command: []string{"cat"}, Idle: 300 * time.Millisecond})
	c := ts.dial(t)
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	idleClosed(t, ts, c, 4)
}

func TestMaxPerIP(t *testing.T) {
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"cat"}, Jobs: 4, MaxPerIP: 1})
	first := ts.dial(t)
	io.WriteString(first, "a")
	buf := make([]byte, 1)
	io.ReadFull(first, buf) // the first is being served
	second := ts.dial(t)
	if got, err := io.ReadAll(second); err != nil || len(got) != 0 {
		t.Fatalf("second connection from the same IP: %q, %v; want closed", got, err)
	}
	if got, err := request(first, "b"); err != nil || got != "b" {
		t.Fatalf("first: %q, %v", got, err)
	}
	waitFor(t, "the first handler to finish", func() bool { return ts.srv.Stats().Active == 0 })
	if got, err := request(ts.dial(t), "c"); err != nil || got != "c" {
		t.Fatalf("after the first left: %q, %v", got, err)
	}
	ts.stop(t)
	if st := ts.srv.Stats(); st.Refused != 1 || st.Served != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// Whatever a handler leaves in its group is ended when it exits, so a
// stray background process cannot hold the client's connection open.
func TestLeftoversEnded(t *testing.T) {
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"sh", "-c", "sleep 30 & echo hi"}})
	start := time.Now()
	if got, err := request(ts.dial(t), ""); err != nil || got != "hi\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("connection held open %v by a background process", d)
	}
}

// Shutdown stops accepting at once, lets a running handler finish within
// the grace period, and terminates one that does not.
func TestShutdown(t *testing.T) {
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"sh", "-c", "echo started; exec sleep 30"}, Grace: 300 * time.Millisecond})
	c := ts.dial(t)
	line := make([]byte, 8)
	if _, err := io.ReadFull(c, line); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ts.stop(t)
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Fatalf("shutdown took %v, want grace then TERM (~300ms)", d)
	}
	if _, err := net.Dial("tcp", ts.addr.Address); err == nil {
		t.Fatal("still accepting after shutdown")
	}
	if r := ts.recs()[0]; r.Ended != "shutdown" || r.Signal != 15 {
		t.Fatalf("record %+v", r)
	}
}

func TestMissingCommand(t *testing.T) {
	if _, err := New(Config{Command: []string{"no-such-command-pkit"}}); err == nil {
		t.Fatal("missing command accepted")
	}
}

// Many short connections leave no zombies and no descriptors behind.
func TestChurnNoLeaks(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 500
	}
	fdsBefore := countFDs(t)
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"true"}, Jobs: 8})
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				c := ts.dial(t)
				var b [1]byte
				c.Read(b[:])
				c.Close()
			}
		}()
	}
	start := time.Now()
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	ts.stop(t)
	t.Logf("%d connections in %v (%.0f/s)", n, elapsed, float64(n)/elapsed.Seconds())
	if got := len(ts.recs()); got != n {
		t.Fatalf("%d records, want %d", got, n)
	}
	if z := children(t); len(z) != 0 {
		t.Fatalf("children left: %v", z)
	}
	if fds := countFDs(t); fds > fdsBefore {
		t.Fatalf("%d fds after, %d before", fds, fdsBefore)
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc")
	}
	return len(ents)
}

// children lists this process's child processes, zombies included.
func children(t *testing.T) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == me {
			out = append(out, e.Name()+" "+f[0])
		}
	}
	return out
}

func TestIPv6Peer(t *testing.T) {
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback")
	} else {
		l.Close()
	}
	ts := serve(t, "[::1]:0", Config{Command: []string{"sh", "-c", `echo "$TCPREMOTEIP $TCPLOCALIP {}"`}})
	c := ts.dial(t)
	port := c.LocalAddr().(*net.TCPAddr).Port
	if got, err := request(c, ""); err != nil || got != fmt.Sprintf("::1 ::1 [::1]:%d\n", port) {
		t.Fatalf("got %q, %v", got, err)
	}
}

// Bound to every interface, the handler learns which address was reached.
func TestUnspecifiedLocal(t *testing.T) {
	ts := serve(t, "0.0.0.0:0", Config{Command: []string{"sh", "-c", `echo "$TCPLOCALIP:$TCPLOCALPORT"`}})
	_, port, _ := net.SplitHostPort(ts.addr.Address)
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if got, err := request(c, ""); err != nil || got != "127.0.0.1:"+port+"\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// fakeGroups records what a Server tells its Groups; it refuses Add once
// refuse is set.
type fakeGroups struct {
	mu         sync.Mutex
	added      []int
	ended      []int
	refuse     bool
	refuseWith error
}

func (g *fakeGroups) Add(pgid int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refuse {
		return g.refuseWith
	}
	g.added = append(g.added, pgid)
	return nil
}

func (g *fakeGroups) Ended(pgid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ended = append(g.ended, pgid)
}

// TestGroups: every handler's group is registered as it starts and ended
// once it is reaped; a handler that cannot be registered is killed at
// once, and Serve stops with the error.
func TestGroups(t *testing.T) {
	g := &fakeGroups{}
	ts := serve(t, "127.0.0.1:0", Config{Command: []string{"sh", "-c", "echo $$"}, Jobs: 2, Groups: g})
	var pids []int
	for range 3 {
		out, err := request(ts.dial(t), "")
		if err != nil {
			t.Fatal(err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("handler said %q", out)
		}
		pids = append(pids, pid)
	}
	ts.stop(t)
	g.mu.Lock()
	slices.Sort(g.added)
	slices.Sort(g.ended)
	added, ended := fmt.Sprint(g.added), fmt.Sprint(g.ended)
	g.mu.Unlock()
	slices.Sort(pids)
	if want := fmt.Sprint(pids); added != want || ended != want {
		t.Fatalf("added %s, ended %s; want the handlers' pids %s for both", added, ended, want)
	}

	bad := &fakeGroups{refuse: true, refuseWith: errors.New("no watchdog")}
	ts2 := serve(t, "127.0.0.1:0", Config{Command: []string{"sh", "-c", "sleep 5; echo ran"}, Groups: bad})
	if out, _ := request(ts2.dial(t), ""); out != "" {
		t.Errorf("an unregistered handler ran: %q", out)
	}
	select {
	case err := <-ts2.done:
		close(ts2.done)
		if err == nil || err.Error() != "no watchdog" {
			t.Errorf("Serve returned %v; want the registration's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve kept accepting after a handler could not be registered")
	}
}
