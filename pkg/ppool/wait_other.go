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
