package procwait

import (
	"fmt"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/proc"
	"golang.org/x/sys/unix"
)

// Proc is a process to wait for. darwin has no pidfd: the handle is the PID,
// watched with kqueue EVFILT_PROC.
type Proc struct {
	PID int
}

// Open returns a handle on process pid; ErrGone if there is none.
func Open(pid int) (*Proc, error) {
	if err := unix.Kill(pid, 0); err == unix.ESRCH {
		return nil, fmt.Errorf("process %d: %w", pid, ErrGone)
	}
	return &Proc{PID: pid}, nil
}

// FD returns -1: darwin has no process descriptors.
func (p *Proc) FD() int { return -1 }

// Close releases the handle.
func (p *Proc) Close() error { return nil }

// ReadStat describes the process by its PID (darwin has nothing to keep
// open): check the start time against what was looked up.
func (p *Proc) ReadStat() (proc.Stat, error) { return proc.ReadStat(p.PID) }

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error { return unix.Kill(p.PID, sig) }

// Exited reports, without blocking, whether the process has ended.
func (p *Proc) Exited() bool {
	ready, _ := wait([]*Proc{p}, 0)
	return len(ready) > 0
}

// Status cannot learn a non-child's exit status on darwin.
func (p *Proc) Status(startTime uint64) Status { return Status{} }

// Wait blocks until at least one of procs has ended or timeout passes (a
// negative timeout waits for ever) and returns the indexes of those that
// have ended.
func Wait(procs []*Proc, timeout time.Duration) ([]int, error) {
	return wait(procs, timeout)
}

func wait(procs []*Proc, timeout time.Duration) ([]int, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, fmt.Errorf("kqueue: %w", err)
	}
	defer unix.Close(kq)
	var ready []int
	changes := make([]unix.Kevent_t, 0, len(procs))
	for i, p := range procs {
		var ev unix.Kevent_t
		unix.SetKevent(&ev, p.PID, unix.EVFILT_PROC, unix.EV_ADD|unix.EV_ONESHOT)
		ev.Fflags = unix.NOTE_EXIT
		ev.Udata = nil
		changes = append(changes, ev)
		if _, err := unix.Kevent(kq, changes[len(changes)-1:], nil, nil); err == unix.ESRCH {
			ready = append(ready, i)
		}
	}
	if len(ready) > 0 {
		return ready, nil
	}
	events := make([]unix.Kevent_t, len(procs))
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	for {
		n, err := unix.Kevent(kq, nil, events, ts)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("kevent: %w", err)
		}
		for _, ev := range events[:n] {
			for i, p := range procs {
				if int(ev.Ident) == p.PID {
					ready = append(ready, i)
				}
			}
		}
		return ready, nil
	}
}

// Inherit wraps a process handle received from another process; on darwin
// that is only the PID.
func Inherit(pid, fd int) *Proc { return &Proc{PID: pid} }
