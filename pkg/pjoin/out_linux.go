package pjoin

import (
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writeOut writes a line of output. To a file it writes with raw write(2)
// calls, as procwait does once a process has ended: a runtime system call
// after the long wait would first wake the runtime's monitor thread, which
// costs more than the write (see procwait). A write that would block in a
// non-blocking file waits in the runtime's poller; a broken pipe is left to
// os.File, which ends the process with SIGPIPE as any write to stdout does.
func writeOut(w io.Writer, b []byte) {
	f, ok := w.(*os.File)
	if !ok || len(b) == 0 {
		w.Write(b)
		return
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Write(b)
		return
	}
	var failed bool
	rc.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, _, errno := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch errno {
			case 0:
				b = b[n:]
			case unix.EINTR:
			case unix.EAGAIN:
				return false
			default:
				failed = true
				return true
			}
		}
		return true
	})
	if failed {
		f.Write(b)
	}
}
