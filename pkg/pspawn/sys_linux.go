package pspawn

import "golang.org/x/sys/unix"

// becomeSubreaper makes the supervisor the reaper of its jobs' orphaned
// descendants, so none of them is left a zombie while it runs.
func becomeSubreaper() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }

// dup2 moves fd onto to, clearing close-on-exec.
func dup2(fd, to int) error {
	if fd == to {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
		return err
	}
	return unix.Dup3(fd, to, 0)
}
