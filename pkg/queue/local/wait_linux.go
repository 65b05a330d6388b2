package local

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// maxSleep bounds one sleep, as a safety net against a change that sends
// no inotify event (e.g. a queue directory replaced by hand).
const maxSleep = 5 * time.Second

// waiter sleeps until the state file changes (inotify), a lease holder
// exits (pidfd), a time passes, or a context is done (eventfd).
type waiter struct {
	ino, efd int
}

func newWaiter(path string) (*waiter, error) {
	ino, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	if _, err := unix.InotifyAddWatch(ino, path, unix.IN_MODIFY|unix.IN_ATTRIB|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF); err != nil {
		unix.Close(ino)
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(ino)
		return nil, err
	}
	return &waiter{ino: ino, efd: efd}, nil
}

func (w *waiter) close() {
	unix.Close(w.ino)
	unix.Close(w.efd)
}

// drain discards pending events of fd.
func drain(fd int) {
	var buf [4096]byte
	for {
		if n, err := unix.Read(fd, buf[:]); n <= 0 || err != nil {
			return
		}
	}
}

// wait sleeps as described on waiter, then discards the events it saw; the
// caller re-checks the queue. It returns ctx.Err() once ctx is done.
func (w *waiter) wait(ctx context.Context, until time.Time, holders []holder) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fds := []unix.PollFd{{Fd: int32(w.ino), Events: unix.POLLIN}, {Fd: int32(w.efd), Events: unix.POLLIN}}
	for _, h := range holders {
		pfd, err := unix.PidfdOpen(int(h.PID), 0)
		if err != nil {
			if errors.Is(err, unix.ESRCH) {
				return nil // gone already: re-check
			}
			continue // no pidfd (old kernel): expiry and maxSleep still wake us
		}
		defer unix.Close(pfd)
		if !alive(h) { // the PID was reused before we opened it
			return nil
		}
		fds = append(fds, unix.PollFd{Fd: int32(pfd), Events: unix.POLLIN})
	}
	stop := context.AfterFunc(ctx, func() { unix.Write(w.efd, []byte{1, 0, 0, 0, 0, 0, 0, 0}) })
	defer stop()
	sleep := maxSleep
	if dl, ok := ctx.Deadline(); ok {
		sleep = min(sleep, time.Until(dl))
	}
	if !until.IsZero() {
		sleep = min(sleep, time.Until(until))
	}
	if sleep > 0 {
		ms := int((sleep + time.Millisecond - 1) / time.Millisecond)
		if _, err := unix.Poll(fds, ms); err != nil && err != unix.EINTR {
			return err
		}
	}
	drain(w.ino)
	drain(w.efd)
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}
