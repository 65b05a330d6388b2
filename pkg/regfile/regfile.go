// Package regfile opens regular files for the tools run once per item.
package regfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// Open opens path as os.OpenFile does (close-on-exec, errors as
// *os.PathError), without os.OpenFile's attempt to add the file to the
// runtime's network poller: for a regular file that attempt only fails,
// after starting the poller, which is a noticeable part of a one-item
// pqueue or pshm call.
func Open(path string, flags int, perm uint32) (*os.File, error) {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, perm)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}
