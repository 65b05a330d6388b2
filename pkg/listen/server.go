// Package listen serves a command per connection, like tcpserver or
// socat's fork mode: it accepts on a TCP or Unix socket, runs the command
// with the connection itself as stdin and stdout (the socket is handed to
// the process, so data does not pass through the server; only a Unix
// socket whose bytes are counted or idleness watched is relayed), bounds
// how many run at once by leaving further clients in the listen backlog,
// and on shutdown drains, then terminates, every handler's process group.
// It is ppool --listen.
package listen

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/lifetime"
)

// DefaultJobs is how many connections are served at once unless told
// otherwise: tcpserver's default, since handlers mostly wait on the network.
const DefaultJobs = 40

// Config says how connections are served.
type Config struct {
	// Command is the handler's argv. {} expands to the peer (IP:PORT, or
	// pid=PID,uid=UID on a Unix socket), {#} to the connection's sequence
	// number and {%} to its slot (1..Jobs).
	Command []string
	// Shell, when set, is the shell (sh, bash...) that runs the command
	// words joined by spaces as SHELL -c; expanded placeholders are
	// quoted for the shell.
	Shell string
	// Jobs bounds concurrent handlers; further clients wait in the backlog.
	Jobs int
	// MaxPerIP bounds concurrent handlers per client IP (0: no bound);
	// beyond it a connection is closed at once, as xinetd's per_source does.
	MaxPerIP int
	// Timeout and Idle end a handler (TERM, then KILL after Grace) that
	// runs too long or whose connection carries no data for that long.
	Timeout, Idle time.Duration
	// Grace is how long running handlers may finish after shutdown starts,
	// and how long a TERMed group has before KILL.
	Grace time.Duration
	// CountBytes fills the Record's byte counts. On Linux TCP a duplicate
	// of the socket is kept until the handler is reaped, to read the
	// kernel's counters; that delays the client's EOF by the reaping. Unix
	// sockets are relayed through a socket pair instead (as for Idle).
	// Off unless someone reads the counts.
	CountBytes bool
	// StderrToClient sends handlers' stderr down the connection too.
	StderrToClient bool
	// Stderr receives handlers' stderr (default os.Stderr).
	Stderr *os.File
	// Env is the handlers' base environment (default os.Environ()).
	Env []string
	// OnDone is called once per connection, never concurrently.
	OnDone func(Record)
	// Warn reports what the server carries on from (a failed accept or
	// start); the tool prints it (default: "listen: ..." on Stderr).
	Warn func(format string, a ...any)
	// Groups, when set, registers each handler's process group as it
	// starts and is told when its leader has been reaped, so that the
	// handlers die with the server however it dies (lifetime.Groups). A
	// handler that cannot be registered is killed, and Serve stops with
	// the error.
	Groups Groups
}

// Groups is what a Server needs of lifetime.Groups.
type Groups interface {
	Add(pgid int) error
	Ended(pgid int)
}

// Record is one served (or refused) connection, for the joblog and --json.
type Record struct {
	Seq      int
	Slot     int
	Peer     string
	Start    time.Time
	Runtime  time.Duration
	Exit     int // exit status; 128+N after signal N; 126/127: could not start
	Signal   int
	BytesIn  int64 // from the client; -1 when the system cannot count them
	BytesOut int64 // to the client; -1 when unknown
	// Ended says why the handler was stopped: "timeout", "idle",
	// "shutdown", "refused" (--max-per-ip) or "" when it exited by itself.
	Ended   string
	Command []string
}

// Stats are the server's running counts.
type Stats struct {
	Active, Served, Failed, Refused int64
}

// Server runs Config's command for each connection of a Listener.
type Server struct {
	cfg      Config
	path     string // resolved Command[0] (or sh)
	env      []string
	slots    chan int
	wg       sync.WaitGroup
	killNow  chan struct{}
	killed   sync.Once
	failOnce sync.Once
	failErr  error              // why Serve stopped early, set once
	stopAcc  context.CancelFunc // ends Serve's accepting

	mu       sync.Mutex
	handlers map[*handler]struct{}
	tcpInfo  bool           // the kernel counts bytes and activity (TCP on Linux)
	stopSig  syscall.Signal // what shutdown has sent so far; late starters get it too
	perIP    map[string]int
	recMu    sync.Mutex

	active, served, failed, refused atomic.Int64
}

// New checks cfg and resolves the command once, so a missing command is
// an error at start-up rather than on every connection.
func New(cfg Config) (*Server, error) {
	if len(cfg.Command) == 0 {
		return nil, errors.New("no command to run for each connection")
	}
	if cfg.Jobs <= 0 {
		cfg.Jobs = DefaultJobs
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if cfg.Warn == nil {
		stderr := cfg.Stderr
		cfg.Warn = func(format string, a ...any) { fmt.Fprintf(stderr, "listen: "+format+"\n", a...) }
	}
	name := cfg.Command[0]
	if cfg.Shell != "" {
		name = cfg.Shell
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, cli.Exitf(cli.ExitNotExec, "%s: permission denied", name)
		}
		return nil, cli.Exitf(cli.ExitNotFound, "%s: command not found", name)
	}
	s := &Server{
		cfg:      cfg,
		path:     path,
		env:      baseEnv(cfg.Env),
		slots:    make(chan int, cfg.Jobs),
		killNow:  make(chan struct{}),
		handlers: map[*handler]struct{}{},
		perIP:    map[string]int{},
	}
	for i := 1; i <= cfg.Jobs; i++ {
		s.slots <- i
	}
	return s, nil
}

// Stats returns the running counts.
func (s *Server) Stats() Stats {
	return Stats{Active: s.active.Load(), Served: s.served.Load(), Failed: s.failed.Load(), Refused: s.refused.Load()}
}

// Kill ends the drain at once: every handler's group is killed. It is the
// answer to a second signal.
func (s *Server) Kill() { s.killed.Do(func() { close(s.killNow) }) }

// Serve accepts until ctx is done, then closes l (a Unix socket's file is
// removed), lets running handlers finish for Grace, TERMs the rest and
// KILLs what is left after another Grace. It returns when every handler
// has been reaped.
func (s *Server) Serve(ctx context.Context, l *Listener) error {
	_, _, _, s.tcpInfo = probeTCPInfo(l)
	ctx, s.stopAcc = context.WithCancel(ctx)
	defer s.stopAcc()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer l.Close()
	var err error
	var delay time.Duration
	for seq := 1; ; {
		var slot int
		select {
		case slot = <-s.slots:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		f, peer, aerr := accept(l)
		if aerr != nil {
			s.slots <- slot
			if ctx.Err() != nil || errors.Is(aerr, net.ErrClosed) || errors.Is(aerr, os.ErrClosed) {
				break
			}
			if errors.Is(aerr, syscall.ECONNABORTED) || errors.Is(aerr, syscall.EPROTO) {
				continue // the client gave up while waiting in the backlog
			}
			// Out of fds or memory: back off as net/http does rather than
			// spin; handlers finishing will free what we need.
			if isTemporary(aerr) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.warnf("accept: %v; retrying in %v", aerr, delay)
				time.Sleep(delay)
				continue
			}
			err = fmt.Errorf("accept on %s: %w", l.Addr, unwrapOp(aerr))
			break
		}
		delay = 0
		s.wg.Add(1)
		s.active.Add(1)
		go s.serveConn(f, peer, seq, slot)
		seq++
	}
	l.Close()
	s.drain()
	if err == nil {
		err = s.failErr
	}
	return err
}

// fail stops accepting because of err, which Serve returns.
func (s *Server) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = err
		s.stopAcc()
	})
}

func isTemporary(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

// drain waits for handlers: Grace to finish by themselves, then TERM,
// then KILL after another Grace; Kill skips the waiting.
func (s *Server) drain() {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-done:
			return true
		case <-t.C:
		case <-s.killNow:
		}
		return false
	}
	if wait(s.cfg.Grace) {
		return
	}
	s.signalAll(syscall.SIGTERM, "shutdown")
	if wait(s.cfg.Grace) {
		return
	}
	s.signalAll(syscall.SIGKILL, "shutdown")
	<-done
}

func (s *Server) signalAll(sig syscall.Signal, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopSig = sig
	for h := range s.handlers {
		h.signal(sig, reason)
	}
}

func (s *Server) warnf(format string, a ...any) { s.cfg.Warn(format, a...) }

// handler is one running connection's process.
type handler struct {
	mu     sync.Mutex
	pid    int
	reaped bool   // after this the pid (and group id) may belong to another
	ended  string // why we signalled it, first reason wins
	kill   *time.Timer
	grace  time.Duration
}

// signal sends sig to the handler's process group while its leader is
// unreaped; a TERM arms a KILL after the grace period.
func (h *handler) signal(sig syscall.Signal, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reaped {
		return
	}
	if h.ended == "" {
		h.ended = reason
	}
	syscall.Kill(-h.pid, sig)
	if sig == syscall.SIGTERM && h.kill == nil {
		h.kill = time.AfterFunc(h.grace, func() { h.signal(syscall.SIGKILL, reason) })
	}
}

// serveConn runs the command on the accepted socket f and records it.
func (s *Server) serveConn(f *os.File, peer peerInfo, seq, slot int) {
	defer s.wg.Done()
	defer s.active.Add(-1)
	defer func() { s.slots <- slot }()
	rec := Record{Seq: seq, Slot: slot, Start: time.Now(), BytesIn: -1, BytesOut: -1}
	rec.Peer = peer.peer
	argv := s.argv(peer.peer, seq, slot)
	rec.Command = argv
	if peer.ip != "" && s.cfg.MaxPerIP > 0 {
		if !s.admit(peer.ip) {
			f.Close()
			rec.Exit, rec.Ended = 0, "refused"
			s.refused.Add(1)
			s.finish(rec)
			return
		}
		defer s.leave(peer.ip)
	}
	rec.Exit, rec.Signal, rec.Ended, rec.BytesIn, rec.BytesOut = s.run(f, argv, peer.env)
	rec.Runtime = time.Since(rec.Start)
	if rec.Exit != 0 {
		s.failed.Add(1)
	}
	s.served.Add(1)
	s.finish(rec)
}

func (s *Server) finish(rec Record) {
	if s.cfg.OnDone == nil {
		return
	}
	s.recMu.Lock()
	defer s.recMu.Unlock()
	s.cfg.OnDone(rec)
}

// run starts argv on the socket f, closes f, and waits for the handler;
// its group is tracked for timeouts and shutdown until its leader is
// reaped. To count bytes or watch for idleness it keeps f until then.
func (s *Server) run(f *os.File, argv, env []string) (exit, sig int, ended string, in, out int64) {
	defer f.Close()
	in, out = -1, -1
	sock := f // what the handler gets as stdin and stdout
	var m meter
	var r *relay
	switch {
	case !s.cfg.CountBytes && s.cfg.Idle == 0:
	case s.tcpInfo:
		m = tcpMeter{f}
	default:
		var err error
		if r, sock, err = newRelay(f); err != nil {
			s.warnf("relay: %v", err)
			return 1, 0, "", in, out
		}
		m = r
	}
	stderr := s.cfg.Stderr
	if s.cfg.StderrToClient {
		stderr = sock
	}
	// os.StartProcess rather than exec.Cmd: the environment is already
	// free of duplicates and there are no pipes to copy, so Cmd's extra
	// work would only cost time per connection.
	proc, err := os.StartProcess(s.path, argv, &os.ProcAttr{
		Env:   append(append(make([]string, 0, len(s.env)+len(env)), s.env...), env...),
		Files: []*os.File{sock, sock, stderr},
		Sys:   lifetime.Attr(),
	})
	if m == nil || r != nil {
		// The handler holds the only copy, so the client sees EOF the
		// moment the handler exits, not when we get round to reaping it.
		sock.Close()
	}
	if err != nil {
		s.warnf("start %s: %v", argv[0], err)
		if r != nil {
			r.finish(0)
		}
		if errors.Is(err, syscall.ENOENT) {
			return 127, 0, "", in, out
		}
		return 126, 0, "", in, out
	}
	if s.cfg.Groups != nil {
		if err := s.cfg.Groups.Add(proc.Pid); err != nil {
			// Unprotected against the server's death: do not let it run.
			syscall.Kill(-proc.Pid, syscall.SIGKILL)
			proc.Wait()
			s.fail(err)
			return 128 + int(syscall.SIGKILL), int(syscall.SIGKILL), "shutdown", in, out
		}
		defer s.cfg.Groups.Ended(proc.Pid)
	}
	h := &handler{pid: proc.Pid, grace: s.cfg.Grace}
	s.mu.Lock()
	s.handlers[h] = struct{}{}
	if s.stopSig != 0 {
		// Accepted just before shutdown began, started just after.
		h.signal(s.stopSig, "shutdown")
	}
	s.mu.Unlock()
	done := make(chan struct{})
	if s.cfg.Timeout > 0 {
		t := time.AfterFunc(s.cfg.Timeout, func() { h.signal(syscall.SIGTERM, "timeout") })
		defer t.Stop()
	}
	if s.cfg.Idle > 0 {
		go s.watchIdle(m, h, done)
	}
	if waitExited(h.pid) {
		// Whatever the handler left running in its group would keep the
		// connection open; end it, as systemd does for Accept=yes units.
		syscall.Kill(-h.pid, syscall.SIGTERM)
	}
	h.mu.Lock()
	h.reaped = true
	if h.kill != nil {
		h.kill.Stop()
	}
	h.mu.Unlock()
	close(done)
	if r != nil {
		r.finish(s.cfg.Grace)
	}
	if m != nil {
		if i, o, _, ok := m.counts(); ok {
			in, out = i, o
		}
	}
	state, err := proc.Wait()
	s.mu.Lock()
	delete(s.handlers, h)
	s.mu.Unlock()
	if err != nil {
		s.warnf("wait for %s: %v", argv[0], err)
		return 1, 0, h.ended, in, out
	}
	ws, _ := state.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), int(ws.Signal()), h.ended, in, out
	}
	return ws.ExitStatus(), 0, h.ended, in, out
}

// watchIdle ends the handler when its connection has carried no data
// either way for Idle.
func (s *Server) watchIdle(m meter, h *handler, done <-chan struct{}) {
	tick := time.NewTicker(min(max(s.cfg.Idle/4, 10*time.Millisecond), time.Second))
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if _, _, idle, ok := m.counts(); ok && idle >= s.cfg.Idle {
				h.signal(syscall.SIGTERM, "idle")
				return
			}
		}
	}
}

func (s *Server) admit(ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip] >= s.cfg.MaxPerIP {
		return false
	}
	s.perIP[ip]++
	return true
}

func (s *Server) leave(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

// argv expands the placeholders of the command for one connection.
func (s *Server) argv(peer string, seq, slot int) []string {
	quote := func(v string) string { return v }
	if s.cfg.Shell != "" {
		quote = shellQuote
	}
	r := strings.NewReplacer("{}", quote(peer), "{#}", strconv.Itoa(seq), "{%}", strconv.Itoa(slot))
	words := make([]string, len(s.cfg.Command))
	for i, w := range s.cfg.Command {
		words[i] = r.Replace(w)
	}
	if s.cfg.Shell != "" {
		return []string{s.cfg.Shell, "-c", strings.Join(words, " ")}
	}
	return words
}

func shellQuote(v string) string { return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'" }

// probeTCPInfo checks that TCP_INFO can be read on l's socket.
func probeTCPInfo(l *Listener) (int64, int64, time.Duration, bool) {
	fl, ok := l.Listener.(interface{ File() (*os.File, error) })
	if !ok {
		return 0, 0, 0, false
	}
	f, err := fl.File()
	if err != nil {
		return 0, 0, 0, false
	}
	defer f.Close()
	return tcpCounters(f)
}
