package ppool

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// pipe makes a pipe whose ends close on exec.
func pipe() (rd, wr int, err error) {
	var fds [2]int
	err = unix.Pipe2(fds[:], unix.O_CLOEXEC)
	return fds[0], fds[1], err
}

// growPipe makes the pipe hold up to 1 MiB (the usual limit for a user)
// when there is that much to send: fewer wake-ups of ppool and the job.
// Where it cannot grow, it works as it is.
func growPipe(wr int, size int64) {
	if size > 64<<10 {
		_, _ = unix.FcntlInt(uintptr(wr), unix.F_SETPIPE_SZ, int(min(size, 1<<20)))
	}
}

// spliceRange moves up to most bytes of f from off into the pipe wr with
// splice: the kernel moves the pages, ppool never reads them. It returns
// errors.ErrUnsupported where the file system refuses splice.
func spliceRange(wr int, f *os.File, off int64, most int) (int, error) {
	k, err := unix.Splice(int(f.Fd()), &off, wr, nil, most, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return 0, errors.ErrUnsupported
	}
	return int(k), err
}

// spliceData puts data in the pipe wr with vmsplice: the pipe refers to
// data's pages instead of a copy of them, so data must stay unchanged
// until the job has read it or ended (a block's memory is reused only
// once its job has ended and its process group was killed: only a
// process that left the group, setsid, and still reads the job's stdin
// could see a later block). Where vmsplice is refused, it writes.
func spliceData(wr int, data []byte) (int, error) {
	iov := []unix.Iovec{{Base: &data[0]}}
	iov[0].SetLen(len(data))
	k, err := unix.Vmsplice(wr, iov, unix.SPLICE_F_NONBLOCK)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return unix.Write(wr, data)
	}
	return k, err
}
