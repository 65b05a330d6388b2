package ptree

import (
	"github.com/pkit-sh/pkit/pkg/proc"
)

// IO returns n's storage I/O counters; false when they cannot be read
// (another user's process, or darwin).
func (t *table) IO(n *node) (proc.IO, bool) {
	return n.io.get(func() (proc.IO, error) { return proc.ReadIO(n.PID) })
}

// FDs returns how many files n has open.
func (t *table) FDs(n *node) (int, bool) {
	return n.fds.get(func() (int, error) { return proc.CountFDs(n.PID) })
}

// Wchan returns the kernel function n sleeps in, "" when it runs.
func (t *table) Wchan(n *node) (string, bool) {
	return n.wchan.get(func() (string, error) { return proc.Wchan(n.PID) })
}

// Cgroup returns n's cgroup v2 path.
func (t *table) Cgroup(n *node) (string, bool) {
	return n.cgroup.get(func() (string, error) { return proc.Cgroup(n.PID) })
}

// Ports returns the TCP and UDP ports n listens on, as "tcp:8080". Every
// process's sockets are found in one pass the first time it is asked.
func (t *table) Ports(n *node) []string {
	ports, _ := t.ports.get(listeningPorts)
	return ports[n.PID]
}

// MemPercent returns n's resident memory in percent of physical memory.
func (t *table) MemPercent(n *node) (float64, bool) {
	total, ok := t.memTotal.get(memTotal)
	if !ok || total == 0 {
		return 0, false
	}
	return 100 * float64(n.RSS*pageKiB*1024) / float64(total), true
}
