package job

import (
	"io/fs"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readRaw reads a small file with raw system calls (see ReadNow).
func readRaw(path string) ([]byte, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	cwd := unix.AT_FDCWD
	fd, _, errno := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	for errno == unix.EINTR {
		fd, _, errno = unix.RawSyscall6(unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	}
	if errno != 0 {
		return nil, &fs.PathError{Op: "open", Path: path, Err: errno}
	}
	defer unix.RawSyscall(unix.SYS_CLOSE, fd, 0, 0)
	b := make([]byte, 0, 2048) // a record is a few hundred bytes
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		free := b[len(b):cap(b)]
		n, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&free[0])), uintptr(len(free)))
		switch {
		case errno == unix.EINTR:
		case errno != 0:
			return nil, &fs.PathError{Op: "read", Path: path, Err: errno}
		case n == 0:
			return b, nil
		default:
			b = b[:len(b)+int(n)]
		}
	}
}
