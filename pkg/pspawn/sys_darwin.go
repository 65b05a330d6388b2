package pspawn

import (
	"golang.org/x/sys/unix"
)

// becomeSubreaper does nothing: darwin has no subreapers; orphans go to
// launchd, which reaps them.
func becomeSubreaper() {}

// dup2 moves fd onto to, clearing close-on-exec.
func dup2(fd, to int) error {
	if fd == to {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
		return err
	}
	return unix.Dup2(fd, to)
}

// otherChildren is false: without a subreaper, the jobs are the only
// children besides the watchdog.
func otherChildren(except int) bool { return false }
