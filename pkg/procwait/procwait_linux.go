package procwait

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"

	"github.com/pkit-sh/pkit/pkg/proc"
	"golang.org/x/sys/unix"
)

// Proc is an open handle on one process. It keeps referring to that process
// even if its PID is reused after it ends.
type Proc struct {
	PID int
	fd  int
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
	return &Proc{PID: pid, fd: fd}, nil
}

// FD returns the pidfd, for passing to another process.
func (p *Proc) FD() int { return p.fd }

// Close releases the handle.
func (p *Proc) Close() error { return unix.Close(p.fd) }

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
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(p.fd), pidfdGetInfo, uintptr(unsafe.Pointer(&info)))
	if errno != 0 || info.Mask&pidfdInfoExit == 0 {
		return Status{}, false
	}
	return FromWait(syscall.WaitStatus(info.ExitCode)), true
}

// Status returns the exit status of an ended process that is not our child:
// from PIDFD_GET_INFO once it is reaped, from /proc/PID/stat while it is a
// zombie (startTime, if not 0, must match so that a reused PID is never
// read). The reap can fall between the two reads, so they are retried a
// few times; a kernel without either source gives an unknown status.
func (p *Proc) Status(startTime uint64) Status {
	for try := 0; try < 20; try++ {
		if st, ok := p.exitInfo(); ok {
			return st
		}
		s, err := proc.ReadStat(p.PID)
		if err == nil && s.State == 'Z' && s.HasExit && (startTime == 0 || s.StartTime == startTime) {
			return FromWait(syscall.WaitStatus(s.ExitCode))
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
func Wait(procs []*Proc, timeout time.Duration) ([]int, error) {
	return wait(procs, timeout)
}

func wait(procs []*Proc, timeout time.Duration) ([]int, error) {
	fds := make([]unix.PollFd, len(procs))
	for i, p := range procs {
		fds[i] = unix.PollFd{Fd: int32(p.fd), Events: unix.POLLIN}
	}
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
func Inherit(pid, fd int) *Proc { return &Proc{PID: pid, fd: fd} }
