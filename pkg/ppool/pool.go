package ppool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/lifetime"
	"golang.org/x/sys/unix"
)

// Pool runs Template once per item, Jobs at a time.
type Pool struct {
	Template   *Template
	Words      []string
	Shell      string // run CMD as Shell -c script; "": directly
	Jobs       int
	KeepOrder  bool
	LineBuffer bool
	Tag        bool
	Ungroup    bool
	Timeout    time.Duration
	Grace      time.Duration
	Retries    int
	Halt       HaltRule
	Delay      time.Duration
	Load       float64
	Memfree    uint64
	DryRun     bool
	Joblog     string
	Resume     bool
	ResumeFail bool
	JSON       bool
	Progress   bool
	Eta        bool
	PipeMode   bool  // items are blocks fed to each job's stdin (pipe.go)
	InputSize  int64 // pipe mode: the bytes of the blocks to feed, 0 if unknown

	afterJob func(r *result, out, errOut *outFile) // --queue/--results: settle and report (queue.go)
	onStart  func(j *job, pgid int)                // --queue: tie the item's lease to the job's group (queue.go)

	env       *cli.Env
	stdout    *os.File
	stderr    *os.File
	baseEnv   []string
	shellJob  func(Item, int, int) (string, []string) // --shell: a job's script and parameters
	skip      map[int]bool
	joblog    *os.File
	groups    *lifetime.Groups // every job's process group (sched.go)
	stopping  atomic.Bool      // no new jobs start
	stopCh    chan struct{}
	stopOnce  sync.Once
	interrupt atomic.Int32 // the signal that stopped us, if any
	fed       atomic.Int64 // pipe mode: the bytes of the blocks written to jobs

	// feedMu orders the hand-over of a job (by the feeder, or a worker's
	// take) against Run's final sweep, so that after a signal every item
	// read is either run or recorded as not run, never neither.
	feedMu   sync.Mutex
	swept    bool  // Run has swept the queue: the feeder records what it holds
	taken    int   // items taken from the input
	inputErr error // the input failed, read by a worker (takeNext)
	notRunN  atomic.Int64

	// runMu guards the jobs running and the programs looked up, apart from
	// mu, so that a job starting or ending in one slot does not wait for
	// another slot's output to be copied out.
	runMu   sync.Mutex
	running map[int]int // pid -> pgid
	paths   map[string]string

	mu        sync.Mutex // guards everything below and all output
	next      int        // -k: next seq to print
	pending   map[int]*result
	spill     *os.File
	spillSize int64
	held      int64
	done      int
	failed    int
	succeeded int
	total     int
	haltCode  int
	halted    bool
	lastStart time.Time
	started   time.Time
}

// job is one item's run.
type job struct {
	seq   int
	item  Item
	argv  []string
	lease *qlease // its --queue item (queue.go)
	in    *pipeIn // pipe mode: its stdin (pipe.go)
}

// result is a finished job's record and, when held for -k, its output.
type result struct {
	job     *job
	start   time.Time
	runtime time.Duration
	exit    int
	signal  int
	notRun  bool // never started: ppool was stopped by a signal first
	out     []byte
	errOut  []byte
	outOff  int64 // spilled: offsets in p.spill
	outLen  int64
	errLen  int64
	spilled bool
	recv    int64
	sent    int64 // pipe mode: bytes fed to its stdin
}

// Run runs every item and returns the exit status as an error.
func (p *Pool) Run(env *cli.Env, items *Items) error {
	p.env = env
	p.stdout, p.stderr = asFile(env.Stdout, os.Stdout), asFile(env.Stderr, os.Stderr)
	p.baseEnv = os.Environ()
	p.stopCh = make(chan struct{})
	p.running = map[int]int{}
	p.pending = map[int]*result{}
	p.paths = map[string]string{}
	p.next = 1
	p.started = time.Now()
	p.groups = lifetime.New(p.Grace)
	defer p.groups.Close()
	if p.Shell != "" {
		p.shellJob = p.Template.ShellScript(p.Words)
	}
	if err := p.openJoblog(); err != nil {
		return err
	}
	if p.joblog != nil {
		defer p.joblog.Close()
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go p.handleSignals(sigs)

	var all []*job
	if p.Eta && !p.PipeMode { // pipe mode's ETA is by bytes
		for seq := 1; ; seq++ {
			it, err := items.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			all = append(all, &job{seq: seq, item: it})
		}
		p.total = len(all)
	}
	if p.DryRun {
		return p.dryRun(items, all)
	}

	next, queue := p.takeNext(items, all), (chan *job)(nil)
	feedErr := make(chan error, 1)
	if all == nil && !items.steady() {
		// Taking an item may wait for another process (stdin a pipe, a
		// queue): a feeder goroutine takes them, so that a worker never
		// waits on the input and a signal stops the run at once.
		queue = make(chan *job, 64)
		if p.PipeMode {
			// A block in hand waits for a free slot: with the blocks the
			// running jobs read, that is at most one more than -j blocks.
			queue = make(chan *job)
		}
		go func() { feedErr <- p.feed(items, queue) }()
		next = func() *job {
			select {
			case j := <-queue:
				return j
			case <-p.stopCh:
				return nil
			}
		}
	}

	var stopProgress func()
	if p.Progress {
		stopProgress = p.showProgress()
	}
	p.schedule(next)
	if stopProgress != nil {
		stopProgress()
	}
	sig := p.interrupt.Load()
	if sig != 0 {
		p.sweep(queue, all)
	}
	ferr := p.inputErr
	if queue != nil {
		select {
		case ferr = <-feedErr:
		default: // the feeder is blocked on input we no longer need
		}
	}
	p.flushPending()
	if sig != 0 {
		return cli.Exit(cli.ExitSignalBase+int(sig), p.stoppedNote(syscall.Signal(sig)))
	}
	if ferr != nil {
		return ferr
	}
	if p.halted {
		return cli.Exit(p.haltCode, nil)
	}
	return cli.Exit(min(p.failed, 101), nil)
}

// stoppedNote is the one line ppool prints when a signal stopped it.
func (p *Pool) stoppedNote(sig syscall.Signal) error {
	note := fmt.Sprintf("stopped by %s", unix.SignalName(sig))
	if n := p.notRunN.Load(); n > 0 {
		note += fmt.Sprintf("; %d items not run", n)
		if p.joblog != nil {
			note += " (in the joblog with exit value -1)"
		}
	}
	return errors.New(note)
}

func asFile(w io.Writer, fallback *os.File) *os.File {
	if f, ok := w.(*os.File); ok {
		return f
	}
	return fallback
}

// take reads the next job: its item numbered, those that --resume skips
// passed over. It returns nil at the end of the input. One goroutine at a
// time calls it: the feeder, or a worker holding feedMu.
func (p *Pool) take(items *Items, all []*job) (*job, error) {
	for {
		var j *job
		if all != nil {
			if p.taken == len(all) {
				return nil, nil
			}
			j = all[p.taken]
			p.taken++
		} else {
			it, err := items.Next()
			if errors.Is(err, io.EOF) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			p.taken++
			j = &job{seq: p.taken, item: it, lease: items.lease(), in: items.pipeIn()}
			p.mu.Lock()
			p.total = p.taken
			p.mu.Unlock()
		}
		if !p.skip[j.seq] {
			return j, nil
		}
		if p.KeepOrder {
			p.mu.Lock()
			p.markSkipped(j.seq)
			p.mu.Unlock()
		}
	}
}

// takeNext gives the workers their jobs straight from the input, when
// taking an item never waits for another process (a list, a regular
// file): no goroutine hands a job over, which would wake another thread
// for each (ppool --pipe -j2 wc -l < f: 6% of its time). nil once the
// input has ended or failed (inputErr), or the pool is stopping.
func (p *Pool) takeNext(items *Items, all []*job) func() *job {
	return func() *job {
		p.feedMu.Lock()
		defer p.feedMu.Unlock()
		if p.swept || p.stopping.Load() {
			return nil
		}
		j, err := p.take(items, all)
		if err != nil {
			p.inputErr = err
			p.stop()
		}
		return j
	}
}

// feed queues the jobs of an input that may wait for another process, for
// the workers to take.
func (p *Pool) feed(items *Items, queue chan<- *job) error {
	defer close(queue)
	for !p.stopping.Load() {
		j, err := p.take(items, nil)
		if err != nil {
			p.stop()
			return err
		}
		if j == nil || !p.put(queue, j) {
			return nil
		}
	}
	return nil
}

// put hands j to the workers; false if the pool stopped first, j then
// recorded as not run.
func (p *Pool) put(queue chan<- *job, j *job) bool {
	p.feedMu.Lock()
	defer p.feedMu.Unlock()
	if !p.swept && !p.stopping.Load() {
		select {
		case queue <- j:
			return true
		case <-p.stopCh:
		}
	}
	p.notRun(j)
	return false
}

// sweep records as not run the jobs still queued after a signal stopped
// the workers, and those of a list not taken yet; the feeder records any
// it brings after this.
func (p *Pool) sweep(queue <-chan *job, all []*job) {
	p.feedMu.Lock()
	defer p.feedMu.Unlock()
	p.swept = true
	if all != nil {
		for _, j := range all[p.taken:] {
			p.notRun(j)
		}
	}
	for {
		select {
		case j, ok := <-queue:
			if !ok {
				return
			}
			p.notRun(j)
		default:
			return
		}
	}
}

// markSkipped lets -k move past a job skipped by --resume.
func (p *Pool) markSkipped(seq int) {
	p.pending[seq] = nil
	p.flushLocked()
}

func (p *Pool) stop() {
	p.stopping.Store(true)
	p.stopOnce.Do(func() { close(p.stopCh) })
}

func (p *Pool) fatal(err error) {
	p.mu.Lock()
	p.env.Warnf("%v", err)
	p.failed++
	p.mu.Unlock()
	p.stop()
}
