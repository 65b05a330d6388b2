package procwait

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/pkit-sh/pkit/pkg/proc"
	"golang.org/x/sys/unix"
)

// Proc is an open handle on one process. It keeps referring to that process
// even if its PID is reused after it ends.
type Proc struct {
	PID  int
	fd   int
	stat int    // /proc/PID/stat, opened by ReadStat and kept; -1 until then
	buf  []byte // ReadStat's buffer
}

// Open returns a handle on process pid; ErrGone if there is none.
func Open(pid int) (*Proc, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	for err == unix.EINTR {
		fd, err = unix.PidfdOpen(pid, 0)
	}
	if err == unix.ESRCH {
		return nil, fmt.Errorf("process %d: %w", pid, ErrGone)
	}
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	return &Proc{PID: pid, fd: fd, stat: -1}, nil
}

// FD returns the pidfd, for passing to another process.
func (p *Proc) FD() int { return p.fd }

// Close releases the handle.
func (p *Proc) Close() error {
	if p.stat >= 0 {
		rawClose(p.stat)
		p.stat = -1
	}
	return rawClose(p.fd)
}

// rawClose closes fd with a raw system call. The calls made once a process
// has ended (reading its status, closing its descriptors, collecting the
// poller's events) are all made raw, without telling the runtime: none of
// them can block, and the first runtime system call after a long idle wait
// wakes the runtime's monitor thread, a cross-CPU wake-up that costs more
// than the call itself.
func rawClose(fd int) error {
	if _, _, errno := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0); errno != 0 {
		return errno
	}
	return nil
}

// ReadStat reads the process's /proc/PID/stat. The file is opened by the
// first call and kept: later calls cost one pread(2) (the exit status of a
// zombie is read with nothing else to do once it ends), and they can never
// read a process that reused the PID, as the open file stays bound to the
// process it was opened for (it fails with ESRCH once that is reaped). The
// first call opens the file by PID: check the start time against what was
// looked up.
func (p *Proc) ReadStat() (proc.Stat, error) {
	if p.stat < 0 {
		path := "/proc/" + strconv.Itoa(p.PID) + "/stat"
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		for err == unix.EINTR {
			fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		}
		if err != nil {
			return proc.Stat{}, fmt.Errorf("read process %d: %w", p.PID, err)
		}
		p.stat = fd
		if p.buf == nil {
			p.buf = make([]byte, 2048) // a stat line is under 1 KiB
		}
	}
	var n uintptr
	errno := unix.EINTR
	for errno == unix.EINTR {
		n, _, errno = unix.RawSyscall6(unix.SYS_PREAD64, uintptr(p.stat), uintptr(unsafe.Pointer(&p.buf[0])), uintptr(len(p.buf)), 0, 0, 0)
	}
	if errno != 0 {
		return proc.Stat{}, fmt.Errorf("read process %d: %w", p.PID, errno)
	}
	return proc.ParseStat(p.buf[:n])
}

// Signal sends sig to the process itself; it cannot reach a process that
// reused the PID.
func (p *Proc) Signal(sig syscall.Signal) error {
	return unix.PidfdSendSignal(p.fd, unix.Signal(sig), nil, 0)
}

// Exited reports, without blocking, whether the process has ended (it may
// still be an unreaped zombie).
func (p *Proc) Exited() bool {
	ready, _ := wait([]*Proc{p}, 0)
	return len(ready) > 0
}

// pidfdGetInfo is PIDFD_GET_INFO, _IOWR(0xFF, 11, struct pidfd_info) with
// the 64-byte first version of the structure (Linux 6.13).
const (
	pidfdGetInfo  = 0xC040FF0B
	pidfdInfoExit = 1 << 3 // PIDFD_INFO_EXIT, Linux 6.15
)

// pidfdInfo is struct pidfd_info, version 0 (64 bytes).
type pidfdInfo struct {
	Mask                     uint64
	CgroupID                 uint64
	PID, TGID, PPID          uint32
	RUID, RGID, EUID, EGID   uint32
	SUID, SGID, FSUID, FSGID uint32
	ExitCode                 int32
}

// exitInfo asks the kernel for the wait status of the ended process. It is
// there only once the parent has reaped it, on Linux ≥ 6.15.
func (p *Proc) exitInfo() (Status, bool) {
	var info pidfdInfo
	info.Mask = pidfdInfoExit
	_, _, errno := unix.RawSyscall(unix.SYS_IOCTL, uintptr(p.fd), pidfdGetInfo, uintptr(unsafe.Pointer(&info)))
	if errno != 0 || info.Mask&pidfdInfoExit == 0 {
		return Status{}, false
	}
	return FromWait(syscall.WaitStatus(info.ExitCode)), true
}

// Status returns the exit status of an ended process that is not our child:
// from PIDFD_GET_INFO once it is reaped, from /proc/PID/stat while it is a
// zombie (startTime, if not 0, must match so that a reused PID is never
// read). The reap can fall between the two reads: the kernel stores the
// status for pidfds as it releases the process, so when the stat file fails
// PIDFD_GET_INFO is asked again at once. Anything else is retried a few
// times; a kernel without either source gives an unknown status.
func (p *Proc) Status(startTime uint64) Status {
	for try := 0; try < 20; try++ {
		if st, ok := p.exitInfo(); ok {
			return st
		}
		s, err := p.ReadStat()
		if err == nil && s.State == 'Z' && s.HasExit && (startTime == 0 || s.StartTime == startTime) {
			return FromWait(syscall.WaitStatus(s.ExitCode))
		}
		if err != nil {
			if st, ok := p.exitInfo(); ok {
				return st
			}
		}
		if err == nil && s.State != 'Z' && s.State != 'X' && (startTime == 0 || s.StartTime == startTime) && !p.Exited() {
			return Status{} // still running: the caller asked too early
		}
		time.Sleep(time.Millisecond)
	}
	return Status{}
}

// Wait blocks until at least one of procs has ended or timeout passes (a
// negative timeout waits for ever) and returns the indexes of those that
// have ended.
//
// It blocks in the Go runtime's poller, not in a poll(2) system call: a
// goroutine parked there is woken on the thread that polled and runs at
// once, while one returning from a long system call first wakes the
// runtime's monitor thread, which may then preempt it and move it to
// another thread. Either costs more than all a waiter has left to do once
// the process has ended.
func Wait(procs []*Proc, timeout time.Duration) ([]int, error) {
	return wait(procs, timeout)
}

func wait(procs []*Proc, timeout time.Duration) ([]int, error) {
	fds := make([]unix.PollFd, len(procs))
	for i, p := range procs {
		fds[i] = unix.PollFd{Fd: int32(p.fd), Events: unix.POLLIN}
	}
	if ready, err := pollNow(fds); err != nil || len(ready) > 0 || timeout == 0 {
		return ready, err
	}
	ready, err := waitPoller(procs, timeout)
	if err == errNoPoller {
		return waitPoll(fds, timeout)
	}
	return ready, err
}

// pollNow returns the indexes of the fds that are readable, without waiting.
func pollNow(fds []unix.PollFd) ([]int, error) {
	for {
		n, err := unix.Poll(fds, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("poll pidfds: %w", err)
		}
		var ready []int
		for i, f := range fds {
			if n > 0 && f.Revents != 0 {
				ready = append(ready, i)
			}
		}
		return ready, nil
	}
}

var errNoPoller = errors.New("cannot wait in the runtime's poller")

// waitPoller gathers the pidfds in an epoll instance and waits for that to
// turn readable in the runtime's poller.
func waitPoller(procs []*Proc, timeout time.Duration) ([]int, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, errNoPoller
	}
	for i, p := range procs {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, p.fd, &ev); err != nil {
			unix.Close(ep)
			return nil, fmt.Errorf("epoll pidfd %d: %w", p.PID, err)
		}
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		unix.Close(ep)
		return nil, errNoPoller
	}
	f := os.NewFile(uintptr(ep), "pidfds")
	defer f.Close()
	if timeout > 0 {
		if err := f.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return nil, errNoPoller // not in the poller after all
		}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, errNoPoller
	}
	events := make([]unix.EpollEvent, len(procs))
	var ready []int
	var werr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
		if errno == unix.EINTR {
			return false
		}
		if errno != 0 {
			werr = fmt.Errorf("epoll_wait pidfds: %w", errno)
			return true
		}
		for _, e := range events[:n] {
			ready = append(ready, int(e.Fd))
		}
		return n > 0
	})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("wait for pidfds: %w", err)
	case werr != nil:
		return nil, werr
	}
	slices.Sort(ready)
	return ready, nil
}

// waitPoll waits in poll(2), where the runtime's poller cannot be used.
func waitPoll(fds []unix.PollFd, timeout time.Duration) ([]int, error) {
	deadline := time.Now().Add(timeout)
	for {
		ms := -1
		if timeout >= 0 {
			left := time.Until(deadline)
			ms = int((left + time.Millisecond - 1) / time.Millisecond)
			if left <= 0 {
				ms = 0
			}
		}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("poll pidfds: %w", err)
		}
		if n == 0 && ms >= 0 && time.Until(deadline) <= 0 {
			return nil, nil
		}
		var ready []int
		for i, f := range fds {
			if f.Revents != 0 {
				ready = append(ready, i)
			}
		}
		if len(ready) > 0 {
			return ready, nil
		}
		if ms == 0 {
			return nil, nil
		}
	}
}

// Inherit wraps a pidfd received from another process.
func Inherit(pid, fd int) *Proc { return &Proc{PID: pid, fd: fd, stat: -1} }
