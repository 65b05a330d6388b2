package ppool

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// runLoop runs the jobs from queue in one goroutine, as xargs does: start
// jobs while slots are free, then sleep in epoll_wait on the jobs' pidfds
// until one ends. The worker goroutines (work) instead each sleep in
// wait4, and a thread blocked in a system call makes the Go scheduler hand
// its P over and sysmon wake up every 20µs while jobs run, which costs
// more than the spawn itself. Here the thread keeps its P through the
// wait and the other P stays idle, so neither happens.
//
// The goroutine is not locked to its thread (a locked one would hand its
// thread over at every preemption). The threads it forks jobs from are
// their PDEATHSIG parents, and they live as long as ppool: the runtime
// ends a thread only when a goroutine locked to it exits, and none does
// while the loop runs (the workers, which do, are not used with it).
//
// It returns false, having done nothing, where it cannot run (--delay,
// --load and --memfree are left to the workers, whose waits hold up only
// their own slot).
func (p *Pool) runLoop(queue <-chan *job) bool {
	if p.Delay > 0 || p.Load > 0 || p.Memfree > 0 {
		return false
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(ep)
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return false
	}
	defer unix.Close(wake)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		return false
	}
	p.wakeMu.Lock()
	p.wakeFD = wake
	p.wakeMu.Unlock()
	defer func() {
		p.wakeMu.Lock()
		p.wakeFD = -1
		p.wakeMu.Unlock()
	}()

	l := &loop{p: p, ep: ep, active: map[int32]*loopJob{}}
	defer l.closeFiles()
	inputDone := false
	var ahead []*job // taken from queue, not started yet
	events := make([]unix.EpollEvent, 64)
	for {
		// Start jobs while there are free slots and items.
		for (len(ahead) > 0 || !inputDone) && !p.stopping.Load() && (p.Jobs == 0 || len(l.active) < p.Jobs) {
			if len(ahead) == 0 {
				ahead, inputDone = l.take(queue, ahead[:0])
			}
			if len(ahead) == 0 {
				break // none yet: the feeder wakes the epoll_wait below
			}
			j := ahead[0]
			ahead = ahead[1:]
			l.start(&loopJob{j: j, try: 1})
		}
		if len(l.active) == 0 {
			if len(ahead) == 0 && inputDone || p.stopping.Load() {
				return true
			}
			continue
		}
		n, err := unix.EpollWait(ep, events, -1)
		p.hungry.Store(false)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			p.fatal(err)
			l.reapAll()
			return true
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(wake) {
				var b [8]byte
				_, _ = unix.Read(wake, b[:])
				continue
			}
			if lj := l.active[ev.Fd]; lj != nil {
				l.reap(lj, false)
			}
		}
	}
}

// take appends to buf the jobs queue has ready, waiting for one when no
// job runs; done is set once queue is closed and empty. Taking them all
// at once wakes the feeder, blocked on the full queue, once per batch
// rather than once per job (each a thread switch).
func (l *loop) take(queue <-chan *job, buf []*job) (jobs []*job, done bool) {
	p := l.p
	if len(l.active) == 0 {
		select {
		case j, ok := <-queue:
			if !ok {
				return buf, true
			}
			buf = append(buf, j)
		case <-p.stopCh:
			return buf, false
		}
	}
	p.hungry.Store(true)
	for len(buf) < cap(queue) {
		select {
		case j, ok := <-queue:
			if !ok {
				p.hungry.Store(false)
				return buf, true
			}
			buf = append(buf, j)
			continue
		default:
		}
		break
	}
	if len(buf) > 0 {
		p.hungry.Store(false)
	}
	return buf, false
}

// wake ends runLoop's epoll_wait, for a job queued while it had a free
// slot and none to start (hungry).
func (p *Pool) wake() {
	p.wakeMu.Lock()
	defer p.wakeMu.Unlock()
	if p.wakeFD >= 0 {
		one := [8]byte{1}
		_, _ = unix.Write(p.wakeFD, one[:])
	}
}

// loop is runLoop's state.
type loop struct {
	p      *Pool
	ep     int
	active map[int32]*loopJob // by pidfd
	free   []int              // free slots, each with its output files
	files  map[int][2]*os.File
	slots  int // slots made so far
}

// loopJob is one job's run, through its retries.
type loopJob struct {
	j     *job
	try   int
	slot  int
	rj    *runningJob
	pidfd int
}

// slot takes a free slot, making one (and its output files) if none is.
func (l *loop) slot() (int, *os.File, *os.File, bool) {
	var s int
	if n := len(l.free); n > 0 {
		s, l.free = l.free[n-1], l.free[:n-1]
	} else {
		l.slots++
		s = l.slots
		if !l.p.Ungroup && !l.p.LineBuffer {
			out, err := tempFile()
			if err != nil {
				l.p.fatal(err)
				return 0, nil, nil, false
			}
			errOut, err := tempFile()
			if err != nil {
				out.Close()
				l.p.fatal(err)
				return 0, nil, nil, false
			}
			if l.files == nil {
				l.files = map[int][2]*os.File{}
			}
			l.files[s] = [2]*os.File{out, errOut}
		}
	}
	f := l.files[s]
	return s, f[0], f[1], true
}

func (l *loop) closeFiles() {
	for _, f := range l.files {
		f[0].Close()
		f[1].Close()
	}
}

// start starts lj in a free slot (its own again for a retry); a job that
// cannot start, or runs without a pidfd, is finished at once.
func (l *loop) start(lj *loopJob) {
	var out, errOut *os.File
	if lj.slot == 0 {
		s, o, e, ok := l.slot()
		if !ok {
			return
		}
		lj.slot, out, errOut = s, o, e
	} else {
		f := l.files[lj.slot]
		out, errOut = f[0], f[1]
	}
	lj.pidfd = -1
	rj, r := l.p.startJob(lj.j, lj.slot, out, errOut, &lj.pidfd)
	if r != nil {
		l.done(lj, r)
		return
	}
	lj.rj = rj
	if lj.pidfd < 0 || unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, lj.pidfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lj.pidfd)}) != nil {
		if lj.pidfd >= 0 {
			unix.Close(lj.pidfd)
		}
		lj.pidfd = -1
		l.done(lj, l.p.endJob(rj, wait4(rj.pid)))
		return
	}
	l.active[int32(lj.pidfd)] = lj
}

// reap collects lj if it has ended (or, with block, once it has).
func (l *loop) reap(lj *loopJob, block bool) {
	var ws syscall.WaitStatus
	flags := syscall.WNOHANG
	if block {
		flags = 0
	}
	for {
		got, err := syscall.Wait4(lj.rj.pid, &ws, flags, nil)
		if err == syscall.EINTR {
			continue
		}
		if err == nil && got == 0 {
			return // not yet: a spurious wake-up
		}
		break
	}
	delete(l.active, int32(lj.pidfd))
	unix.Close(lj.pidfd) // also takes it out of the epoll set
	lj.pidfd = -1
	r := l.p.endJob(lj.rj, ws)
	if (r.exit != 0 || r.signal != 0) && lj.try < l.p.Retries && !l.p.stopping.Load() {
		if f, ok := l.files[lj.slot]; ok {
			reset(f[0])
			reset(f[1])
		}
		lj.try++
		l.start(lj)
		return
	}
	l.done(lj, r)
}

// reapAll waits for every running job (after a failed epoll_wait).
func (l *loop) reapAll() {
	for _, lj := range l.active {
		l.reap(lj, true)
	}
}

// done finishes lj's job and frees its slot.
func (l *loop) done(lj *loopJob, r *result) {
	f := l.files[lj.slot]
	if l.p.afterJob != nil {
		l.p.afterJob(r, f[0], f[1])
	}
	l.p.finish(r, f[0], f[1])
	l.free = append(l.free, lj.slot)
}
