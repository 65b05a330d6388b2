//go:build !linux

package ppool

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// pipe makes a pipe whose ends close on exec; it holds the fork lock
// while they do not yet, as os.Pipe does where there is no pipe2.
func pipe() (rd, wr int, err error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	var fds [2]int
	if err := unix.Pipe(fds[:]); err != nil {
		return -1, -1, err
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	return fds[0], fds[1], nil
}

func growPipe(int, int64) {}

// spliceRange: no splice here; ppool copies.
func spliceRange(int, *os.File, int64, int) (int, error) { return 0, errors.ErrUnsupported }

// spliceData writes data to wr (no vmsplice here).
func spliceData(wr int, data []byte) (int, error) { return unix.Write(wr, data) }
