package shm

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations on shared memory: not FUTEX_PRIVATE_FLAG, so processes
// that map the same file wait on the same word. x/sys has no futex
// wrapper, so futexWait and futexWake make the system call themselves.
const (
	futexWaitOp = 0 // FUTEX_WAIT
	futexWakeOp = 1 // FUTEX_WAKE
	wakeAll     = 1<<31 - 1
)

var errTimedOut = errors.New("futex wait timed out")

// futexWait sleeps while *addr == val, at most timeout (forever if
// negative). It returns nil when woken, interrupted, or when *addr != val.
func futexWait(addr *uint32, val uint32, timeout time.Duration) error {
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp, uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	if errno == unix.ETIMEDOUT {
		return errTimedOut
	}
	return nil
}

// futexWake wakes up to n processes sleeping on addr.
func futexWake(addr *uint32, n int) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, uintptr(n), 0, 0, 0)
}

// block sleeps on the futex word addr while it holds val, until woken, ctx
// ends (its error is returned) or one of the processes in watch dies. It
// may return early; callers re-check their condition in a loop.
//
// A sleeping FUTEX_WAIT does not notice a signal handled by the Go runtime
// on another thread, nor the death of a lock holder, so a helper goroutine
// watches ctx and the holders' pidfds and, when one fires, wakes the word
// (repeatedly, until this sleep has ended, so the wake cannot slip in
// before the sleep starts). Other sleepers on the word wake spuriously and
// go back to sleep.
func block(ctx context.Context, addr *uint32, val uint32, watch []Owner) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	timeout := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return context.DeadlineExceeded
		}
	}
	var pidfds []int
	closeAll := func() {
		for _, fd := range pidfds {
			unix.Close(fd)
		}
	}
	for _, o := range watch {
		fd, err := unix.PidfdOpen(o.PID, 0)
		if err != nil {
			if errors.Is(err, unix.ESRCH) {
				closeAll()
				return nil // gone already: let the caller recover at once
			}
			continue // no pidfd (old kernel): the caller re-checks on every wake
		}
		pidfds = append(pidfds, fd)
		if !o.Alive() {
			closeAll()
			return nil // the PID now names another process
		}
	}
	var done atomic.Bool
	kick := func() {
		for !done.Load() {
			futexWake(addr, wakeAll)
			time.Sleep(100 * time.Microsecond)
		}
	}
	quit := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			kick()
		case <-quit:
		}
	}()
	stopW := -1
	if len(pidfds) > 0 {
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			closeAll()
		} else {
			stopW = p[1]
			fds := make([]unix.PollFd, 0, len(pidfds)+1)
			fds = append(fds, unix.PollFd{Fd: int32(p[0]), Events: unix.POLLIN})
			for _, fd := range pidfds {
				fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
			}
			// The watcher owns the pidfds and the pipe's read end and closes
			// them itself, so that a woken waiter need not wait for it.
			go func() {
				defer func() {
					unix.Close(p[0])
					closeAll()
				}()
				for {
					_, err := unix.Poll(fds, -1)
					if err == unix.EINTR {
						continue
					}
					if fds[0].Revents == 0 && err == nil {
						kick() // a holder died
					}
					return
				}
			}()
		}
	}
	err := futexWait(addr, val, timeout)
	done.Store(true)
	close(quit)
	if stopW >= 0 {
		unix.Close(stopW) // POLLHUP ends the watcher
	}
	if err == errTimedOut {
		return context.DeadlineExceeded
	}
	return ctx.Err()
}
