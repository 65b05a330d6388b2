package shm

import (
	"os"
	"strconv"

	"github.com/pkit-sh/pkit/pkg/rundir"
	"golang.org/x/sys/unix"
)

// Dir is where shared objects live: $PKIT_SHM_DIR if set, else the POSIX
// shared-memory namespace /dev/shm.
func Dir() (string, error) {
	if dir := os.Getenv("PKIT_SHM_DIR"); dir != "" {
		return dir, rundir.Safe(dir)
	}
	return "/dev/shm", nil
}

// newFile returns an unnamed file in dir (O_TMPFILE) and a function that
// links it under path (or, with path "", drops it). Nothing is left behind
// if pshm dies before publishing.
func newFile(dir string, mode uint32) (*os.File, func(path string) error, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, mode&0o777)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.Fchmod(fd, mode&0o777); err != nil { // undo the umask
		unix.Close(fd)
		return nil, nil, err
	}
	f := os.NewFile(uintptr(fd), dir)
	publish := func(path string) error {
		if path == "" {
			return nil
		}
		return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	}
	return f, publish, nil
}

// reserve gives f size bytes of storage, not a sparse file: in a full
// tmpfs a sparse object is created fine and its first write to a page
// that has no memory behind it kills the writer with SIGBUS. Filesystems
// without fallocate get a plain (sparse) truncate.
func reserve(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == unix.EOPNOTSUPP {
		return f.Truncate(size)
	}
	return err
}
