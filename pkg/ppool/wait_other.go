//go:build !linux

package ppool

import (
	"syscall"

	"github.com/pkit-sh/pkit/pkg/lifetime"
)

// jobAttr is a job's lifetime.Attr; pidfds are Linux's, so *pidfd is -1.
func jobAttr(pidfd *int) *syscall.SysProcAttr {
	*pidfd = -1
	return lifetime.Attr()
}

// reap waits for the job's leader to end and reaps it.
func reap(pid, _ int) syscall.WaitStatus { return wait4(pid) }
