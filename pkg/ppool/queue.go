package ppool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/lifetime"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/location"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
)

// QueueFlags are ppool's pqueue integration, embedded in CLI: --queue
// takes the items from a queue (an input source, peer of stdin and :::),
// --results puts a record of every job to one. The queues are local or on
// a NATS server, chosen by the same flags as pqueue's (location.Flags).
type QueueFlags struct {
	Queue   string `name:"queue" placeholder:"NAME" group:"Queues (--queue NAME, --results NAME)" help:"Take the items from the pqueue queue NAME, each under a lease held while its job runs: done when the job succeeds, given back (nack) when it fails. Ends when the queue is empty (see --follow) (default: none, items come from ::: or stdin)." completion-predictor:"queues"`
	Results string `name:"results" placeholder:"NAME" group:"Queues (--queue NAME, --results NAME)" help:"Put one JSON record per job (item, exit, signal, host, stdout, stderr, runtime, ...) to the pqueue queue NAME (default: none)." completion-predictor:"queues"`
	Follow  bool   `short:"f" name:"follow" group:"Queues (--queue NAME, --results NAME)" help:"With --queue: when the queue is empty, wait for more items until interrupted."`
	// NackDelay is read only when given (ListenFlags.given knows): the
	// default is a back-off, not a fixed delay.
	NackDelay cli.Duration `name:"nack-delay" placeholder:"DUR" group:"Queues (--queue NAME, --results NAME)" help:"With --queue: deliver a failed item again after DUR (default: 1s after its first failure, doubling with each delivery up to 5m)."`

	location.Flags
}

// ackTimeout bounds one acknowledgement or lease renewal on a server that
// does not answer (it reconnects in the background meanwhile).
const ackTimeout = 30 * time.Second

// queueRun is the open queues of one ppool run.
type queueRun struct {
	env     *cli.Env
	backend queue.Backend
	src     *queueSource // nil without --queue
	results queue.Queue  // nil without --results
	host    string
	pid     int

	inflight chan struct{}  // one token per job being settled in the background
	settling sync.WaitGroup // those jobs
}

// open validates the queue flags and opens the queues; nil when neither
// --queue nor --results is given. otherInput is whether -a, ::: or ::::
// gave input sources.
func (f *QueueFlags) open(c *CLI, env *cli.Env, otherInput bool) (*queueRun, error) {
	if f.Queue == "" {
		if f.Follow {
			return nil, cli.Usagef("--follow needs --queue")
		}
		if c.Server.given["nack-delay"] {
			return nil, cli.Usagef("--nack-delay needs --queue")
		}
		if f.Results == "" {
			return nil, nil
		}
	} else {
		switch {
		case otherInput:
			return nil, cli.Usagef("--queue is the only input source: no -a, ::: or ::::")
		case c.Eta, c.DryRun:
			return nil, cli.Usagef("--eta and --dry-run would take every item of --queue")
		case c.Resume, c.ResumeFailed:
			return nil, cli.Usagef("--resume cannot be used with --queue (a queue redelivers what failed)")
		case f.Queue == f.Results:
			return nil, cli.Usagef("--results cannot be the --queue itself")
		}
		if err := cli.ValidName("queue", f.Queue); err != nil {
			return nil, err
		}
	}
	if f.Results != "" {
		if err := cli.ValidName("queue", f.Results); err != nil {
			return nil, err
		}
	}
	jobs, err := parseJobs(c.Jobs)
	if err != nil {
		return nil, err
	}
	if f.Queue != "" && jobs == 0 {
		return nil, cli.Usagef("--queue needs a number of jobs: -j 0 would take the whole queue")
	}
	b, err := f.Backend(natsq.Open)
	if err != nil {
		var ee *cli.ExitError
		if errors.As(err, &ee) {
			return nil, err
		}
		// Like an -a FILE that cannot be read: the input is unusable.
		return nil, cli.Exit(cli.ExitUsage, err)
	}
	qr := &queueRun{env: env, backend: b, pid: os.Getpid(), inflight: make(chan struct{}, inflightMax)}
	qr.host, _ = os.Hostname()
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	if f.Results != "" {
		if qr.results, err = b.Ensure(ctx, f.Results, queue.Config{}); err != nil {
			b.Close()
			return nil, cli.Exit(cli.ExitUsage, err)
		}
	}
	if f.Queue != "" {
		q, err := b.Ensure(ctx, f.Queue, queue.Config{})
		if err != nil {
			qr.close()
			return nil, cli.Exit(cli.ExitUsage, err)
		}
		qr.src = newQueueSource(q, jobs, f.Follow, c.Grace.D(), env)
		if c.Server.given["nack-delay"] {
			d := f.NackDelay.D()
			qr.src.nackDelay = func(int) time.Duration { return d }
		}
	}
	return qr, nil
}

// end returns the error of the run, err, or the queue's that ended it.
func (qr *queueRun) end(err error) error {
	if qr.src == nil {
		return err
	}
	qr.src.mu.Lock()
	defer qr.src.mu.Unlock()
	var ee *cli.ExitError
	if qr.src.err != nil && (err == nil || errors.As(err, &ee) && ee.Err == nil && ee.Code < cli.ExitSignalBase) {
		return qr.src.err
	}
	return err
}

// close waits for the items being settled, gives back those taken but
// never run, and closes the queues.
func (qr *queueRun) close() {
	qr.settling.Wait()
	if qr.src != nil {
		qr.src.close()
	}
	if qr.results != nil {
		qr.results.Close()
	}
	qr.backend.Close()
}

// afterJob is Pool.afterJob: it puts the job's record to --results, then
// settles its item of --queue (done if the job succeeded, nack if not).
// A result is put before the item is done, so a worker that dies in
// between leaves the item to be run again rather than a lost result.
// It reads the job's output at once but talks to the queues in the
// background, so that a slow server holds up no other job (the item's
// slot stays taken until it is settled); at most inflightMax records wait.
func (qr *queueRun) afterJob(p *Pool, r *result, out, errOut *outFile) {
	l := r.job.lease
	interrupted := p.interrupt.Load() != 0
	ok := r.exit == 0 && r.signal == 0 && !interrupted
	var rec []byte
	if qr.results != nil && !interrupted {
		var err error
		if rec, err = qr.record(r, l, out, errOut); err != nil {
			qr.warn("results: %v", err)
			ok = false // run it again rather than lose its result
		}
	}
	if rec == nil && l == nil {
		return
	}
	qr.inflight <- struct{}{}
	qr.settling.Add(1)
	go func() {
		defer qr.settling.Done()
		defer func() { <-qr.inflight }()
		if rec != nil {
			if err := qr.put(p, rec); err != nil {
				qr.warn("results: %v", err)
				ok = false
			}
		}
		if l != nil {
			again := time.Duration(0) // an interrupted job did not fail
			if !interrupted {
				again = qr.src.nackDelay(l.deliveries)
			}
			qr.src.settle(l, ok, again)
		}
	}()
}

// inflightMax bounds the results and acknowledgements under way.
const inflightMax = 64

// resultRecord is one --results record.
type resultRecord struct {
	Queue      string `json:"queue,omitempty"`
	Item       string `json:"item"`
	Deliveries int    `json:"deliveries,omitempty"`
	Seq        int    `json:"seq"`
	Host       string `json:"host"`
	PID        int    `json:"pid"`
	jobRecord
	Truncated bool `json:"truncated,omitempty"`
}

// record encodes the --results record of a finished job.
func (qr *queueRun) record(r *result, l *qlease, out, errOut *outFile) ([]byte, error) {
	stdout, cut1 := fileBytes(out)
	stderr, cut2 := fileBytes(errOut)
	rec := resultRecord{
		Item: strings.Join(r.job.item, "\t"), Seq: r.job.seq, Host: qr.host, PID: qr.pid,
		jobRecord: newJobRecord(r, stdout, stderr), Truncated: cut1 || cut2,
	}
	if l != nil {
		rec.Queue, rec.Item, rec.Deliveries = qr.src.q.Name(), string(l.data), l.deliveries
	}
	return encodeResult(&rec)
}

// put puts a record to --results. A full results queue holds the job's
// slot (like a full pipe) until it has room or ppool is interrupted.
func (qr *queueRun) put(p *Pool, rec []byte) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.stopCh:
			if p.interrupt.Load() != 0 {
				cancel()
			}
		case <-ctx.Done():
		}
	}()
	_, err := qr.results.Put(ctx, [][]byte{rec}, false)
	return err
}

// encodeResult encodes rec as one JSON line, halving stdout and stderr
// (and setting truncated) until it fits in a queue item.
func encodeResult(rec *resultRecord) ([]byte, error) {
	for {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rec); err != nil {
			return nil, err
		}
		b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		if len(b) <= queue.MaxItemSize || rec.Stdout == "" && rec.Stderr == "" {
			return b, nil
		}
		rec.Truncated = true
		rec.Stdout, rec.Stderr = rec.Stdout[:len(rec.Stdout)/2], rec.Stderr[:len(rec.Stderr)/2]
	}
}

// fileBytes reads a job's output buffer (nil with -u or --line-buffer),
// at most an item's worth: cut reports that there was more.
func fileBytes(o *outFile) (b []byte, cut bool) {
	if o == nil {
		return nil, false
	}
	size := o.size()
	n := min(size, queue.MaxItemSize)
	return o.read(n), n < size
}

func (qr *queueRun) warn(format string, a ...any) {
	qr.env.Warnf(format, a...)
}

// qlease is one item taken from --queue and not yet settled.
type qlease struct {
	id         string
	data       []byte
	deliveries int
	pgid       int  // the process group of the job working on it, once started
	lost       bool // renewal failed: warned once
}

// queueSource is --queue as an input Source. It takes an item only when
// fewer than -j of its items are unsettled, so a worker never sits on
// items others could run; it renews the leases of the items it holds
// (the queue's lease, renewed every third of it) so that jobs may run
// longer than the lease; and it ends when the queue has nothing ready and
// none of its own jobs is still running (a failing one gives its item
// back), unless it follows.
type queueSource struct {
	q       queue.Queue
	env     *cli.Env
	ctx     context.Context
	cancel  context.CancelFunc
	opt     queue.GetOptions
	lease   time.Duration
	slots   chan struct{} // one token per item held
	settled chan struct{} // a token when an item is settled
	// nackDelay is how long a failed item waits before it is delivered
	// again, by its deliveries so far.
	nackDelay func(deliveries int) time.Duration
	grace     time.Duration // ppool's --grace: how long a stopped job may take

	mu      sync.Mutex
	held    map[*qlease]bool
	last    *qlease // the item Next returned last
	closed  bool
	err     error // why Next failed
	settles int   // items settled so far
	// backUntil is when the last item this run gave back with a delay is
	// ready again: until then an empty queue is not the end.
	backUntil time.Time
}

func newQueueSource(q queue.Queue, jobs int, follow bool, grace time.Duration, env *cli.Env) *queueSource {
	ctx, cancel := context.WithCancel(context.Background())
	s := &queueSource{
		q: q, env: env, ctx: ctx, cancel: cancel, grace: grace,
		// The lease is held by ppool: if it dies, a local queue gives the
		// items back at once, a NATS queue when the lease expires.
		opt:     queue.GetOptions{Lease: queue.DefaultLease, HolderPID: os.Getpid(), NoWait: !follow},
		lease:   q.Config().LeaseOrDefault(),
		slots:   make(chan struct{}, jobs),
		settled: make(chan struct{}, 1),
		held:    map[*qlease]bool{},

		nackDelay: queue.Backoff,
	}
	go s.renew()
	return s
}

// Next implements Source.
func (s *queueSource) Next() (string, error) {
	select {
	case s.slots <- struct{}{}:
	case <-s.ctx.Done():
		return "", io.EOF
	}
	for {
		s.mu.Lock()
		settles := s.settles
		back := time.Until(s.backUntil)
		s.mu.Unlock()
		ctx, cancel, opt := s.ctx, context.CancelFunc(func() {}), s.opt
		if opt.NoWait && back > -time.Second {
			// An item we gave back is due: wait for it, a little past
			// its time (another worker may take it meanwhile).
			opt.NoWait = false
			ctx, cancel = context.WithTimeout(s.ctx, back+time.Second)
		}
		items, err := s.q.Get(ctx, 1, opt)
		cancel()
		if err == nil {
			it := items[0]
			l := &qlease{id: it.ID, data: it.Data, deliveries: it.Deliveries}
			s.mu.Lock()
			closed := s.closed
			if !closed {
				s.held[l] = true
				s.last = l
			}
			s.mu.Unlock()
			if closed {
				s.giveBack(l)
				<-s.slots
				return "", io.EOF
			}
			return string(it.Data), nil
		}
		if s.ctx.Err() != nil {
			<-s.slots
			return "", io.EOF
		}
		if errors.Is(err, context.DeadlineExceeded) {
			continue // the given-back item went elsewhere: check again
		}
		if !errors.Is(err, queue.ErrEmpty) {
			<-s.slots
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return "", err
		}
		// Nothing ready: the end, unless a job of ours may still fail and
		// give its item back, or did so since the get began.
		s.mu.Lock()
		busy, changed := len(s.held) > 0, s.settles != settles
		s.mu.Unlock()
		if changed {
			continue
		}
		if !busy {
			<-s.slots
			return "", io.EOF
		}
		select {
		case <-s.settled:
		case <-s.ctx.Done():
		}
	}
}

// settle acknowledges l (ok) or gives it back to be delivered again after
// again.
func (s *queueSource) settle(l *qlease, ok bool, again time.Duration) {
	s.mu.Lock()
	pgid := l.pgid
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	// An item given back is free only once its job's whole group is gone
	// (a stopped job's members may outlive its leader by the grace
	// period); if they outlive that too, the lease stays attached to the
	// group, and the queue frees it when the group is gone.
	if !ok && pgid > 0 && !lifetime.AwaitGone(pgid, s.grace+time.Second) {
		s.warnf("%q stays leased: its job's process group %d outlived its grace", l.data, pgid)
	} else if ok {
		if err := s.q.Done(ctx, l.id); err != nil {
			s.warnf("%v; the item %q may be run again", err, l.data)
		}
	} else if err := s.q.Nack(ctx, l.id, again); err != nil {
		s.warnf("give back %q: %v", l.data, err)
	}
	s.mu.Lock()
	if due := time.Now().Add(again); !ok && again > 0 && due.After(s.backUntil) {
		s.backUntil = due
	}
	delete(s.held, l)
	s.settles++
	s.mu.Unlock()
	<-s.slots
	select {
	case s.settled <- struct{}{}:
	default:
	}
}

// attach ties l's lease to pgid, the process group of the job working on
// its item, so that a queue which frees a lease when its holder (ppool)
// dies frees this one only once that group is gone too: an orphaned job
// and the item's next delivery never run at once.
func (s *queueSource) attach(l *qlease, pgid int) {
	s.mu.Lock()
	l.pgid = pgid
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, ackTimeout)
	defer cancel()
	if err := s.q.Attach(ctx, l.id, pgid); err != nil {
		s.warnf("tie %q to its job's process group: %v", l.data, err)
	}
}

// giveBack nacks an item that was never run.
func (s *queueSource) giveBack(l *qlease) {
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	if err := s.q.Nack(ctx, l.id, 0); err != nil && !errors.Is(err, queue.ErrUnknownLease) {
		s.warnf("give back %q: %v", l.data, err)
	}
}

// renew extends the held leases every third of the lease until closed.
func (s *queueSource) renew() {
	tick := time.NewTicker(max(s.lease/3, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		var ls []*qlease
		for l := range s.held {
			ls = append(ls, l)
		}
		s.mu.Unlock()
		for _, l := range ls {
			ctx, cancel := context.WithTimeout(s.ctx, ackTimeout)
			err := s.q.Extend(ctx, l.id, s.lease)
			cancel()
			s.mu.Lock()
			still := s.held[l] // done meanwhile: the error means nothing
			warn := err != nil && still && !l.lost && s.ctx.Err() == nil
			if warn {
				l.lost = true
			}
			s.mu.Unlock()
			if warn {
				s.warnf("renew lease of %q: %v; the item may be run twice", l.data, err)
			}
		}
	}
}

// close stops taking items and gives back those taken but never run.
func (s *queueSource) close() {
	s.mu.Lock()
	s.closed = true
	rest := s.held
	s.held = map[*qlease]bool{}
	s.mu.Unlock()
	s.cancel()
	for l := range rest {
		s.giveBack(l)
	}
	s.q.Close()
}

func (s *queueSource) warnf(format string, a ...any) {
	s.env.Warnf("queue %s: %s", s.q.Name(), fmt.Sprintf(format, a...))
}

// lease returns the queue item behind the item Next returned last (nil
// unless the source is --queue). feed calls it right after Next.
func (it *Items) lease() *qlease {
	if s, ok := it.single.(*queueSource); ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.last
	}
	return nil
}
