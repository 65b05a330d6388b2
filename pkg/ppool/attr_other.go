//go:build !linux

package ppool

import "syscall"

// jobAttr puts each job in its own process group; without PR_SET_PDEATHSIG
// jobs outlive a SIGKILLed ppool on this platform.
func jobAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
