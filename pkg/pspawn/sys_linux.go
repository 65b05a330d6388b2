package pspawn

import (
	"bytes"
	"os"
	"strconv"
	"strings"

	"github.com/pkit-sh/pkit/pkg/proc"
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

// callerPID is the process whose end ends a --daemon job: pspawn's parent,
// unless that is a subshell, a copy of its parent shell forked without
// executing a program (for $(...), a pipeline or ( ... )), which ends as
// soon as its command does. Subshells are skipped up to the shell that
// made them; the walk stops at a session leader or a child of init.
func callerPID() int {
	pid := os.Getppid()
	for {
		st, err := proc.ReadStat(pid)
		if err != nil || st.PPID <= 1 || st.PID == st.Session || !forkOf(pid, st.PPID) {
			return pid
		}
		pid = st.PPID
	}
}

// forkOf reports whether pid runs its parent's program image unchanged:
// the same executable and the same auxiliary vector, which exec rebuilds
// (its addresses point into the new stack).
func forkOf(pid, parent int) bool {
	exe, err1 := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	pexe, err2 := os.Readlink("/proc/" + strconv.Itoa(parent) + "/exe")
	if err1 != nil || err2 != nil || exe != pexe {
		return false
	}
	aux, err1 := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/auxv")
	paux, err2 := os.ReadFile("/proc/" + strconv.Itoa(parent) + "/auxv")
	return err1 == nil && err2 == nil && len(aux) > 0 && bytes.Equal(aux, paux)
}

// closeOnExecAbove marks every descriptor above fd close-on-exec, in one
// call where the kernel has close_range (5.11), else one by one.
func closeOnExecAbove(fd int) {
	if unix.CloseRange(uint(fd+1), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) != nil {
		closeOnExecListed(fd)
	}
}
