package ppool

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// growPipe makes the pipe hold up to 1 MiB (the usual limit for a user)
// when there is that much to send: fewer wake-ups of the feeder and the
// job. Where it cannot grow, it works as it is.
func growPipe(wr *os.File, size int64) {
	if size <= 64<<10 {
		return
	}
	if rc, err := wr.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, int(min(size, 1<<20)))
		})
	}
}

// sendRange writes n bytes of f from off to the pipe wr with splice: the
// kernel moves the pages, ppool never reads them.
func sendRange(wr, f *os.File, off, n int64) error {
	rc, err := wr.SyscallConn()
	if err != nil {
		return err
	}
	src := int(f.Fd())
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		for n > 0 {
			k, err := unix.Splice(src, &off, int(fd), nil, int(min(n, 1<<20)), unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false // the pipe is full: wait until the job reads
			case errors.Is(err, unix.EINTR):
				continue
			case err != nil:
				serr = err
				return true
			case k == 0:
				serr = io.ErrUnexpectedEOF // the file shrank
				return true
			}
			n -= k
		}
		return true
	})
	if err != nil {
		return err
	}
	return serr
}
