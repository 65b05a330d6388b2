package proc

import (
	"bytes"
	"os"
	"strconv"
)

// Caller is the process a tool acts for when something must end with
// its caller (a pspawn --daemon job, a pqueue --lease, a pshm lock taken
// with --acquire): the tool's parent, unless that is a subshell, a copy
// of its parent shell forked without executing a program (for $(...), a
// pipeline or ( ... )), which ends as soon as its command does. Subshells
// are skipped up to the shell that made them; the walk stops at a session
// leader or a child of init.
func Caller() int {
	pid := os.Getppid()
	for {
		st, err := ReadStat(pid)
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
