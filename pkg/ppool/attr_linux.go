package ppool

import "syscall"

// jobAttr puts each job in its own process group and has the kernel kill it
// if ppool dies (the spawning thread outlives its children: see work and
// runLoop);
// with pidfd set, the kernel also returns a pidfd on the job there.
func jobAttr(pidfd *int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, PidFD: pidfd}
}
