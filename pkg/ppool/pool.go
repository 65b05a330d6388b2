package ppool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
)

// Pool runs Template once per item, Jobs at a time.
type Pool struct {
	Template   *Template
	Words      []string
	Shell      bool
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

	afterJob func(r *result, out, errOut *os.File) // --queue/--results: settle and report (queue.go)

	env       *cli.Env
	stdout    *os.File
	stderr    *os.File
	baseEnv   []string
	script    string
	params    func(Item, int, int) []string
	skip      map[int]bool
	joblog    *os.File
	stopping  atomic.Bool // no new jobs start
	stopCh    chan struct{}
	stopOnce  sync.Once
	interrupt atomic.Int32 // the signal that stopped us, if any
	hungry    atomic.Bool  // runLoop waits with a free slot: wake it for a job
	wakeMu    sync.Mutex   // guards wakeFD
	wakeFD    int          // runLoop's eventfd, -1 when none

	mu                             sync.Mutex  // guards everything below and all output
	running                        map[int]int // pid -> pgid
	next                           int         // -k: next seq to print
	pending                        map[int]*result
	spill                          *os.File
	spillSize                      int64
	held                           int64
	done, failed, succeeded, total int
	haltCode                       int
	halted                         bool
	lastStart                      time.Time
	started                        time.Time
	paths                          map[string]string
}

// job is one item's run.
type job struct {
	seq   int
	item  Item
	argv  []string
	lease *qlease // its --queue item (queue.go)
}

// result is a finished job's record and, when held for -k, its output.
type result struct {
	job     *job
	start   time.Time
	runtime time.Duration
	exit    int
	signal  int
	out     []byte
	errOut  []byte
	outOff  int64 // spilled: offsets in p.spill
	outLen  int64
	errLen  int64
	spilled bool
	recv    int64
}

// holdLimit bounds the output -k keeps in memory before spilling to a file.
const holdLimit = 64 << 20

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
	p.wakeFD = -1
	if p.Shell {
		p.script, p.params = p.Template.ShellScript(p.Words)
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
	if p.Eta {
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

	workers := p.Jobs
	queue := make(chan *job, 64)
	feedErr := make(chan error, 1)
	go func() { feedErr <- p.feed(items, all, queue) }()

	var stopProgress func()
	if p.Progress {
		stopProgress = p.showProgress()
	}
	var wg sync.WaitGroup
	spawnWorker := func(slot int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.work(slot, queue)
		}()
	}
	if p.runLoop(queue) {
		// Every job ran on the event loop's thread.
	} else if workers == 0 {
		// -j 0: a worker per item, started as items arrive.
		unbounded := make(chan *job)
		go func() {
			slot := 0
			for j := range queue {
				slot++
				one := make(chan *job, 1)
				one <- j
				close(one)
				wg.Add(1)
				go func(s int) { defer wg.Done(); p.work(s, one) }(slot)
			}
			close(unbounded)
		}()
		<-unbounded
	} else {
		for s := 1; s <= workers; s++ {
			spawnWorker(s)
		}
	}
	wg.Wait()
	if stopProgress != nil {
		stopProgress()
	}
	var ferr error
	select {
	case ferr = <-feedErr:
	default: // the feeder is blocked on input we no longer need
	}
	p.flushPending()
	if sig := p.interrupt.Load(); sig != 0 {
		return cli.Exit(cli.ExitSignalBase+int(sig), nil)
	}
	if ferr != nil {
		return ferr
	}
	if p.halted {
		return cli.Exit(p.haltCode, nil)
	}
	return cli.Exit(min(p.failed, 101), nil)
}

func asFile(w io.Writer, fallback *os.File) *os.File {
	if f, ok := w.(*os.File); ok {
		return f
	}
	return fallback
}

// feed numbers the items and queues those not skipped by --resume.
func (p *Pool) feed(items *Items, all []*job, queue chan<- *job) error {
	defer close(queue)
	put := func(j *job) bool {
		if p.skip[j.seq] {
			if p.KeepOrder {
				p.mu.Lock()
				p.markSkipped(j.seq)
				p.mu.Unlock()
			}
			return true
		}
		select {
		case queue <- j:
			if p.hungry.Load() {
				p.wake()
			}
			return true
		case <-p.stopCh:
			return false
		}
	}
	if all != nil {
		for _, j := range all {
			if !put(j) {
				return nil
			}
		}
		return nil
	}
	for seq := 1; ; seq++ {
		if p.stopping.Load() {
			return nil
		}
		it, err := items.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			p.stop()
			return err
		}
		p.mu.Lock()
		p.total = seq
		p.mu.Unlock()
		if !put(&job{seq: seq, item: it, lease: items.lease()}) {
			return nil
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

// handleSignals: INT/TERM stop starting jobs and TERM every job's process
// group, KILL after --grace; a second signal kills at once. HUP drains.
func (p *Pool) handleSignals(sigs <-chan os.Signal) {
	for s := range sigs {
		sig := s.(syscall.Signal)
		if sig == syscall.SIGHUP {
			p.stop()
			continue
		}
		if !p.interrupt.CompareAndSwap(0, int32(sig)) {
			p.killAll(syscall.SIGKILL)
			continue
		}
		p.stop()
		p.killAll(syscall.SIGTERM)
		go func() {
			time.Sleep(p.Grace)
			p.killAll(syscall.SIGKILL)
		}()
	}
}

func (p *Pool) killAll(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pgid := range p.running {
		_ = syscall.Kill(-pgid, sig)
		if sig == syscall.SIGTERM {
			_ = syscall.Kill(-pgid, syscall.SIGCONT)
		}
	}
}

// work runs jobs from queue. Its goroutine stays locked to its OS thread and
// never unlocks, so the thread (the parent the kernel's PDEATHSIG watches)
// lives until its last child has been reaped.
func (p *Pool) work(slot int, queue <-chan *job) {
	runtime.LockOSThread()
	var out, errOut *os.File
	if !p.Ungroup && !p.LineBuffer {
		var err error
		if out, err = tempFile(); err != nil {
			p.fatal(err)
			return
		}
		defer out.Close()
		if errOut, err = tempFile(); err != nil {
			p.fatal(err)
			return
		}
		defer errOut.Close()
	}
	for {
		var j *job
		select {
		case j = <-queue:
		case <-p.stopCh:
			return
		}
		if j == nil {
			return
		}
		if p.stopping.Load() || !p.throttle() {
			return
		}
		var r *result
		for try := 1; try <= p.Retries; try++ {
			if try > 1 {
				_ = out.Truncate(0)
				_, _ = out.Seek(0, io.SeekStart)
				_ = errOut.Truncate(0)
				_, _ = errOut.Seek(0, io.SeekStart)
			}
			r = p.runJob(j, slot, out, errOut)
			if r.exit == 0 && r.signal == 0 || p.stopping.Load() {
				break
			}
		}
		if p.afterJob != nil {
			p.afterJob(r, out, errOut)
		}
		p.finish(r, out, errOut)
	}
}

func (p *Pool) fatal(err error) {
	p.mu.Lock()
	p.env.Warnf("%v", err)
	p.failed++
	p.mu.Unlock()
	p.stop()
}

// tempFile is an unlinked file a job writes its output to: no pipes and no
// reader goroutines, and the kernel copies it out with sendfile.
func tempFile() (*os.File, error) {
	f, err := os.CreateTemp("", "ppool-*")
	if err != nil {
		return nil, fmt.Errorf("output buffer: %w", err)
	}
	_ = os.Remove(f.Name())
	return f, nil
}

// throttle waits for --delay, --load and --memfree; false if stopped.
func (p *Pool) throttle() bool {
	for p.Load > 0 && loadAvg() > p.Load || p.Memfree > 0 && memAvailable() < p.Memfree {
		select {
		case <-p.stopCh:
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
	if p.Delay > 0 {
		p.mu.Lock()
		wait := time.Until(p.lastStart.Add(p.Delay))
		p.lastStart = time.Now().Add(max(wait, 0))
		p.mu.Unlock()
		if wait > 0 {
			select {
			case <-p.stopCh:
				return false
			case <-time.After(wait):
			}
		}
	}
	return !p.stopping.Load()
}

var devNull = func() *os.File { f, _ := os.Open(os.DevNull); return f }()

// argv builds the job's command line.
func (p *Pool) argv(j *job, slot int) []string {
	if p.Shell {
		return append([]string{"sh", "-c", p.script, "ppool"}, p.params(j.item, j.seq, slot)...)
	}
	return p.Template.Expand(j.item, j.seq, slot)
}

// runJob starts one job and waits for it.
func (p *Pool) runJob(j *job, slot int, out, errOut *os.File) *result {
	rj, r := p.startJob(j, slot, out, errOut, nil)
	if r != nil {
		return r
	}
	return p.endJob(rj, wait4(rj.pid))
}

// runningJob is a started job, until endJob.
type runningJob struct {
	r          *result
	slot       int
	pid        int
	timer      *time.Timer
	closePipes func()
}

// startJob starts one job; with pidfd set it also returns a pidfd on it
// there (-1 if the kernel gives none). A job that cannot start is
// returned as its ended result.
func (p *Pool) startJob(j *job, slot int, out, errOut *os.File, pidfd *int) (*runningJob, *result) {
	j.argv = p.argv(j, slot)
	r := &result{job: j, start: time.Now()}
	stdout, stderr := out, errOut
	var lines sync.WaitGroup
	var pipes []*os.File
	if p.Ungroup {
		stdout, stderr = p.stdout, p.stderr
	} else if p.LineBuffer {
		for _, dst := range []*os.File{p.stdout, p.stderr} {
			rd, wr, err := os.Pipe()
			if err != nil {
				r.exit = cli.ExitFail
				p.env.Warnf("%v", err)
				for _, w := range pipes {
					w.Close()
				}
				lines.Wait()
				return nil, r
			}
			pipes = append(pipes, wr)
			lines.Add(1)
			go func(rd, dst *os.File) {
				defer lines.Done()
				p.copyLines(rd, dst, j)
				rd.Close()
			}(rd, dst)
		}
		stdout, stderr = pipes[0], pipes[1]
	}
	closePipes := func() {
		for _, w := range pipes {
			w.Close()
		}
		lines.Wait()
	}
	path, code := p.lookPath(j.argv[0])
	if code != 0 {
		fmt.Fprintf(stderr, "%s: %s: %s\n", p.env.Name, j.argv[0], map[int]string{126: "permission denied", 127: "command not found"}[code])
		closePipes()
		r.exit = code
		r.runtime = time.Since(r.start)
		return nil, r
	}
	env := append(p.baseEnv[:len(p.baseEnv):len(p.baseEnv)], "PPOOL_SEQ="+strconv.Itoa(j.seq), "PPOOL_SLOT="+strconv.Itoa(slot))
	pid, err := syscall.ForkExec(path, j.argv, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{devNull.Fd(), stdout.Fd(), stderr.Fd()},
		Sys:   jobAttr(pidfd),
	})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %s: %v\n", p.env.Name, j.argv[0], err)
		closePipes()
		r.exit = cli.ExitNotExec
		if errors.Is(err, syscall.ENOENT) {
			r.exit = cli.ExitNotFound
		}
		r.runtime = time.Since(r.start)
		return nil, r
	}
	p.mu.Lock()
	p.running[pid] = pid
	p.mu.Unlock()
	if p.stopping.Load() && p.interrupt.Load() != 0 {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
	}
	rj := &runningJob{r: r, slot: slot, pid: pid, closePipes: closePipes}
	if p.Timeout > 0 {
		rj.timer = time.AfterFunc(p.Timeout, func() {
			_ = syscall.Kill(-pid, syscall.SIGTERM)
			_ = syscall.Kill(-pid, syscall.SIGCONT)
			time.AfterFunc(p.Grace, func() {
				p.mu.Lock()
				if _, ok := p.running[pid]; ok {
					_ = syscall.Kill(-pid, syscall.SIGKILL)
				}
				p.mu.Unlock()
			})
		})
	}
	return rj, nil
}

// endJob cleans up after a reaped job and returns its result.
func (p *Pool) endJob(rj *runningJob, ws syscall.WaitStatus) *result {
	r, pid := rj.r, rj.pid
	if rj.timer != nil {
		rj.timer.Stop()
	}
	// Reap the rest of the group's lingering members is the job's business;
	// clean up what it left running so nothing outlives the pool.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	p.mu.Lock()
	delete(p.running, pid)
	p.mu.Unlock()
	rj.closePipes()
	r.runtime = time.Since(r.start)
	switch {
	case ws.Exited():
		r.exit = ws.ExitStatus()
	case ws.Signaled():
		r.signal = int(ws.Signal())
		r.exit = cli.ExitSignalBase + r.signal
	}
	return r
}

// lookPath resolves a program once per name: 0, or 126/127.
func (p *Pool) lookPath(name string) (string, int) {
	p.mu.Lock()
	path, ok := p.paths[name]
	p.mu.Unlock()
	if ok {
		return path, 0
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return "", cli.ExitNotExec
		}
		return "", cli.ExitNotFound
	}
	p.mu.Lock()
	p.paths[name] = path
	p.mu.Unlock()
	return path, 0
}

// copyLines prints whole lines from rd as they arrive (--line-buffer).
func (p *Pool) copyLines(rd, dst *os.File, j *job) {
	br := bufio.NewReaderSize(rd, 64*1024)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			p.mu.Lock()
			p.writeTagged(dst, line, j)
			p.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// writeTagged writes b, prefixing each line with the item under --tag.
func (p *Pool) writeTagged(dst io.Writer, b []byte, j *job) {
	if !p.Tag {
		_, _ = dst.Write(b)
		return
	}
	prefix := strings.Join(j.item, "\t") + "\t"
	var buf bytes.Buffer
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b) - 1
		}
		buf.WriteString(prefix)
		buf.Write(b[:i+1])
		b = b[i+1:]
	}
	_, _ = dst.Write(buf.Bytes())
}

// finish records a job: output, joblog, counters and --halt.
func (p *Pool) finish(r *result, out, errOut *os.File) {
	var outLen, errLen int64
	if out != nil {
		outLen, _ = out.Seek(0, io.SeekCurrent)
		if st, err := out.Stat(); err == nil {
			outLen = st.Size()
		}
		if st, err := errOut.Stat(); err == nil {
			errLen = st.Size()
		}
	}
	r.recv = outLen
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if r.exit != 0 || r.signal != 0 {
		p.failed++
	} else {
		p.succeeded++
	}
	p.writeJoblog(r)
	if out != nil {
		if p.KeepOrder && r.job.seq != p.next || p.JSON || p.Tag {
			p.hold(r, out, errOut, outLen, errLen)
		} else {
			copyOut(p.stdout, out, outLen)
			copyOut(p.stderr, errOut, errLen)
		}
		reset(out)
		reset(errOut)
	}
	if p.KeepOrder {
		if _, held := p.pending[r.job.seq]; !held {
			p.pending[r.job.seq] = nil // printed already
		}
		p.flushLocked()
	} else if p.pending[r.job.seq] != nil {
		p.emit(p.pending[r.job.seq])
		delete(p.pending, r.job.seq)
	}
	p.checkHalt(r)
}

func reset(f *os.File) {
	_ = f.Truncate(0)
	_, _ = f.Seek(0, io.SeekStart)
}

func copyOut(dst, src *os.File, n int64) {
	if n == 0 {
		return
	}
	_, _ = src.Seek(0, io.SeekStart)
	_, _ = io.Copy(dst, io.LimitReader(src, n))
}

// hold keeps a job's output until it can be printed: in memory up to
// holdLimit, in one spill file past it, so -k runs in bounded memory.
func (p *Pool) hold(r *result, out, errOut *os.File, outLen, errLen int64) {
	if p.held+outLen+errLen <= holdLimit || p.JSON {
		r.out = readAll(out, outLen)
		r.errOut = readAll(errOut, errLen)
		p.held += outLen + errLen
	} else {
		if p.spill == nil {
			f, err := tempFile()
			if err != nil {
				p.env.Warnf("%v", err)
				return
			}
			p.spill = f
		}
		r.spilled, r.outOff, r.outLen, r.errLen = true, p.spillSize, outLen, errLen
		for _, src := range []struct {
			f *os.File
			n int64
		}{{out, outLen}, {errOut, errLen}} {
			_, _ = src.f.Seek(0, io.SeekStart)
			n, _ := io.Copy(p.spill, io.LimitReader(src.f, src.n))
			p.spillSize += n
		}
	}
	p.pending[r.job.seq] = r
}

func readAll(f *os.File, n int64) []byte {
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	_, _ = f.ReadAt(b, 0)
	return b
}

// flushLocked prints, in order, every held job that is next.
func (p *Pool) flushLocked() {
	for {
		r, ok := p.pending[p.next]
		if !ok {
			return
		}
		delete(p.pending, p.next)
		p.next++
		if r != nil {
			p.emit(r)
		}
	}
}

// flushPending prints what is left at the end (after an interrupt, with gaps).
func (p *Pool) flushPending() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.KeepOrder {
		p.flushLocked()
	}
	for seq := p.next; len(p.pending) > 0; seq++ {
		if r, ok := p.pending[seq]; ok {
			delete(p.pending, seq)
			if r != nil {
				p.emit(r)
			}
		}
	}
	if p.spill != nil {
		p.spill.Close()
	}
}

// emit prints a held job's output or JSON record.
func (p *Pool) emit(r *result) {
	out, errOut := r.out, r.errOut
	if r.spilled {
		out, errOut = make([]byte, r.outLen), make([]byte, r.errLen)
		_, _ = p.spill.ReadAt(out, r.outOff)
		_, _ = p.spill.ReadAt(errOut, r.outOff+r.outLen)
	}
	p.held -= int64(len(r.out) + len(r.errOut))
	if p.JSON {
		rec := jsonRecord{Seq: r.job.seq, Item: strings.Join(r.job.item, "\t"), jobRecord: newJobRecord(r, out, errOut)}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(rec)
		_, _ = p.stdout.Write(buf.Bytes())
		return
	}
	p.writeTagged(p.stdout, out, r.job)
	p.writeTagged(p.stderr, errOut, r.job)
}

type jsonRecord struct {
	Seq  int    `json:"seq"`
	Item string `json:"item"`
	jobRecord
}

// jobRecord is what --json and --results both tell of a finished job; it
// is embedded, so its fields stand where it does in the JSON object.
type jobRecord struct {
	Args    []string `json:"args"`
	Exit    int      `json:"exit"`
	Signal  *int     `json:"signal"`
	Start   float64  `json:"start"`
	Runtime float64  `json:"runtime"`
	Stdout  string   `json:"stdout"`
	Stderr  string   `json:"stderr"`
}

func newJobRecord(r *result, stdout, stderr []byte) jobRecord {
	rec := jobRecord{
		Args: r.job.argv, Exit: r.exit, Start: float64(r.start.UnixMicro()) / 1e6,
		Runtime: r.runtime.Seconds(), Stdout: string(stdout), Stderr: string(stderr),
	}
	if r.signal != 0 {
		rec.Signal = &r.signal
	}
	return rec
}

// checkHalt applies --halt after a job ends.
func (p *Pool) checkHalt(r *result) {
	h := p.Halt
	if h.Never || p.halted {
		return
	}
	count := map[string]int{"fail": p.failed, "success": p.succeeded, "done": p.done}[h.What]
	hit := count >= h.N && h.N > 0
	if h.Pct > 0 {
		hit = float64(count)*100 >= h.Pct*float64(max(p.total, p.done))
	}
	if h.What == "fail" && r.exit == 0 && r.signal == 0 || h.What == "success" && (r.exit != 0 || r.signal != 0) {
		hit = false
	}
	if !hit {
		return
	}
	p.halted = true
	if h.What == "fail" {
		p.haltCode = max(r.exit, 1)
	}
	p.stopping.Store(true)
	p.stopOnce.Do(func() { close(p.stopCh) })
	if h.Now {
		for _, pgid := range p.running {
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
		}
		grace := p.Grace
		go func() {
			time.Sleep(grace)
			p.killAll(syscall.SIGKILL)
		}()
	}
}

// openJoblog reads it for --resume and opens it for writing.
func (p *Pool) openJoblog() error {
	if p.Joblog == "" {
		return nil
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if p.Resume || p.ResumeFail {
		p.skip = map[int]bool{}
		if b, err := os.ReadFile(p.Joblog); err == nil {
			for _, line := range strings.Split(string(b), "\n")[1:] {
				f := strings.Split(line, "\t")
				if len(f) < 9 {
					continue
				}
				seq, err := strconv.Atoi(f[0])
				if err != nil {
					continue
				}
				ok := f[6] == "0" && f[7] == "0"
				if p.Resume || ok {
					p.skip[seq] = true
				}
			}
			flags = os.O_WRONLY | os.O_APPEND
		}
	}
	f, err := os.OpenFile(p.Joblog, flags, 0o644)
	if err != nil {
		return fmt.Errorf("joblog: %w", err)
	}
	p.joblog = f
	if flags&os.O_TRUNC != 0 {
		_, err = f.WriteString("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n")
	}
	return err
}

func (p *Pool) writeJoblog(r *result) {
	if p.joblog == nil {
		return
	}
	fmt.Fprintf(p.joblog, "%d\t:\t%.3f\t%.3f\t0\t%d\t%d\t%d\t%s\n", r.job.seq,
		float64(r.start.UnixMilli())/1e3, r.runtime.Seconds(), r.recv, r.exit, r.signal, shellQuote(r.job.argv))
}

// dryRun prints each command line instead of running it.
func (p *Pool) dryRun(items *Items, all []*job) error {
	w := bufio.NewWriter(p.stdout)
	defer w.Flush()
	for seq := 1; ; seq++ {
		var j *job
		if all != nil {
			if seq > len(all) {
				return nil
			}
			j = all[seq-1]
		} else {
			it, err := items.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			j = &job{seq: seq, item: it}
		}
		if p.skip[seq] {
			continue
		}
		fmt.Fprintln(w, shellQuote(p.argv(j, 1)))
	}
}

// showProgress redraws a status line on stderr until stopped.
func (p *Pool) showProgress() func() {
	quit := make(chan struct{})
	finished := make(chan struct{})
	draw := func(final bool) {
		p.mu.Lock()
		done, failed, total, running := p.done, p.failed, p.total, len(p.running)
		p.mu.Unlock()
		line := fmt.Sprintf("\rppool: %d/%d done, %d running, %d failed", done, total, running, failed)
		if p.Eta && done > 0 && total > done {
			per := time.Since(p.started) / time.Duration(done)
			line += fmt.Sprintf(", ETA %s", (per * time.Duration(total-done)).Round(time.Second))
		}
		if final {
			line += "\n"
		}
		fmt.Fprint(p.stderr, line+"\x1b[K")
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				draw(true)
				return
			case <-t.C:
				draw(false)
			}
		}
	}()
	return func() { close(quit); <-finished }
}
