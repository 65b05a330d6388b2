package procwait

import (
	"fmt"
	"strconv"
	"syscall"
	"time"

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
		unix.Close(p.stat)
		p.stat = -1
	}
	return unix.Close(p.fd)
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
	n, err := unix.Pread(p.stat, p.buf, 0)
	for err == unix.EINTR {
		n, err = unix.Pread(p.stat, p.buf, 0)
	}
	if err != nil {
		return proc.Stat{}, fmt.Errorf("read process %d: %w", p.PID, err)
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
	ready, _ := Wait([]*Proc{p}, 0)
	return len(ready) > 0
}

// exitInfo asks the kernel for the wait status of the ended process. It is
// there only once the parent has reaped it, on Linux ≥ 6.15.
func (p *Proc) exitInfo() (Status, bool) {
	info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_EXIT}
	if err := unix.IoctlPidfdInfo(p.fd, &info); err != nil || info.Mask&unix.PIDFD_INFO_EXIT == 0 {
		return Status{}, false
	}
	return FromWait(syscall.WaitStatus(info.Exit_code)), true
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
// have ended. A pidfd turns readable when its process ends: Wait sleeps in
// poll(2) on them.
func Wait(procs []*Proc, timeout time.Duration) ([]int, error) {
	fds := make([]unix.PollFd, len(procs))
	for i, p := range procs {
		fds[i] = unix.PollFd{Fd: int32(p.fd), Events: unix.POLLIN}
	}
	deadline := time.Now().Add(timeout)
	for {
		ms := -1
		if timeout >= 0 {
			ms = int((max(time.Until(deadline), 0) + time.Millisecond - 1) / time.Millisecond)
		}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("poll pidfds: %w", err)
		}
		if n > 0 || ms == 0 {
			var ready []int
			for i, f := range fds {
				if f.Revents != 0 {
					ready = append(ready, i)
				}
			}
			return ready, nil
		}
	}
}

// Inherit wraps a pidfd received from another process.
func Inherit(pid, fd int) *Proc { return &Proc{PID: pid, fd: fd, stat: -1} }
