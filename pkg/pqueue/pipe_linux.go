package pqueue

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe makes the pipe written by w hold n bytes, reporting whether it
// does. A pipe holds at least a page; a user over its pipe-buffer quota
// gets no more, so a larger item asks the pipe's size, and for more (up
// to /proc/sys/fs/pipe-max-size for an unprivileged user) when it falls
// short.
func growPipe(w *os.File, n int) bool {
	if n <= os.Getpagesize() {
		return true
	}
	fd := w.Fd()
	if got, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil && got >= n {
		return true
	}
	got, err := unix.FcntlInt(fd, unix.F_SETPIPE_SZ, n)
	return err == nil && got >= n
}
