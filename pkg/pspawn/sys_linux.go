package pspawn

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

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

// otherChildren reports whether this process has a child other than
// except. The kernel lists children per thread, and an adopted orphan may
// be listed under any thread.
func otherChildren(except int) bool {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return false // as if none: they go to init when we exit
	}
	for _, t := range tasks {
		b, _ := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		for _, f := range strings.Fields(string(b)) {
			if pid, _ := strconv.Atoi(f); pid != except {
				return true
			}
		}
	}
	return false
}
