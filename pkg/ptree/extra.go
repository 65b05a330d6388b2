package ptree

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// IO returns n's storage I/O counters; false when they cannot be read
// (another user's process, or darwin).
func (t *table) IO(n *node) (proc.IO, bool) {
	return n.extra().io.get(func() (proc.IO, error) { return proc.ReadIO(n.PID) })
}

// FDs returns how many files n has open.
func (t *table) FDs(n *node) (int, bool) {
	return n.extra().fds.get(func() (int, error) { return proc.CountFDs(n.PID) })
}

// Wchan returns the kernel function n sleeps in, "" when it runs.
func (t *table) Wchan(n *node) (string, bool) {
	return n.extra().wchan.get(func() (string, error) { return proc.Wchan(n.PID) })
}

// Cgroup returns n's cgroup v2 path.
func (t *table) Cgroup(n *node) (string, bool) {
	return n.extra().cgroup.get(func() (string, error) { return proc.Cgroup(n.PID) })
}

// Ports returns the TCP and UDP ports n listens on, as "tcp:8080" sorted by
// protocol and number, IPv4 and IPv6 merged; none when they cannot be read.
func (t *table) Ports(n *node) []string {
	ports, _ := n.extra().ports.get(func() ([]string, error) {
		ix, err := t.portIndex()
		if err != nil {
			return nil, err
		}
		return ix.of(n)
	})
	return ports
}

// portText formats ports as "tcp:8080", sorted and without duplicates.
func portText(ports []proc.Port) []string {
	slices.SortFunc(ports, func(a, b proc.Port) int { return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Num, b.Num)) })
	var out []string
	for i, p := range ports {
		if i == 0 || p != ports[i-1] {
			out = append(out, p.Proto+":"+strconv.Itoa(int(p.Num)))
		}
	}
	return out
}

// MemPercent returns n's resident memory in percent of physical memory.
func (t *table) MemPercent(n *node) (float64, bool) {
	total, ok := t.memTotal.get(memTotal)
	if !ok || total == 0 {
		return 0, false
	}
	return 100 * float64(n.RSS*pageKiB*1024) / float64(total), true
}
