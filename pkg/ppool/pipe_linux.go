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
// kernel moves the pages, ppool never reads them. Where the file system
// refuses splice, it copies.
func sendRange(wr, f *os.File, off, n int64) error {
	src, end := int(f.Fd()), off+n
	err := intoPipe(wr, n, func(fd, most int) (int, error) {
		k, err := unix.Splice(src, &off, fd, nil, most, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		return int(k), err
	})
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		_, err = io.Copy(wr, io.NewSectionReader(f, off, end-off))
	}
	return err
}

// sendBlock puts data in the pipe wr with vmsplice: the pipe refers to
// data's pages instead of a copy of them, so data must stay unchanged
// until the job has read it or ended (a block's memory is reused only
// once its job has ended and its process group was killed: only a
// process that left the group, setsid, and still reads the job's stdin
// could see a later block). Where vmsplice is refused, it writes.
func sendBlock(wr *os.File, data []byte) error {
	sent := 0
	err := intoPipe(wr, int64(len(data)), func(fd, most int) (int, error) {
		iov := []unix.Iovec{{Base: &data[sent]}}
		iov[0].SetLen(most)
		k, err := unix.Vmsplice(fd, iov, unix.SPLICE_F_NONBLOCK)
		sent += max(k, 0)
		return k, err
	})
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		_, err = wr.Write(data[sent:])
	}
	return err
}

// intoPipe moves n bytes into the pipe wr with move, called with the
// pipe's descriptor and the most to move at once; it waits in the poller
// while the pipe is full.
func intoPipe(wr *os.File, n int64, move func(fd, most int) (int, error)) error {
	rc, err := wr.SyscallConn()
	if err != nil {
		return err
	}
	var merr error
	err = rc.Write(func(fd uintptr) bool {
		for n > 0 {
			k, err := move(int(fd), int(min(n, 1<<20)))
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false // the pipe is full: wait until the job reads
			case errors.Is(err, unix.EINTR):
				continue
			case err != nil:
				merr = err
				return true
			case k == 0:
				merr = io.ErrUnexpectedEOF // the file shrank
				return true
			}
			n -= int64(k)
		}
		return true
	})
	if err != nil {
		return err
	}
	return merr
}
