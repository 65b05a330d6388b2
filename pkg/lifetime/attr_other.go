//go:build !linux

package lifetime

import (
	"os"
	"syscall"
)

// Attr returns the process attributes of a job: a process group of its own.
// Without a parent-death signal, a job started in the instant before Add
// registers its group outlives a tool killed in that instant.
func Attr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func executable() (string, error) { return os.Executable() }
