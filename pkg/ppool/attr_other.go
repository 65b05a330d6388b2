//go:build !linux

package ppool

import "syscall"

// jobAttr puts each job in its own process group; without PR_SET_PDEATHSIG
// jobs outlive a SIGKILLed ppool on this platform. There are no pidfds:
// the event loop is Linux's.
func jobAttr(pidfd *int) *syscall.SysProcAttr {
	if pidfd != nil {
		*pidfd = -1
	}
	return &syscall.SysProcAttr{Setpgid: true}
}
