package ppool

import (
	"syscall"

	"github.com/pkit-sh/pkit/pkg/lifetime"
)

// jobAttr is a job's lifetime.Attr, asking the kernel for a pidfd of the
// leader in *pidfd (-1 if it gives none).
func jobAttr(pidfd *int) *syscall.SysProcAttr {
	attr := lifetime.Attr()
	attr.PidFD = pidfd
	return attr
}
