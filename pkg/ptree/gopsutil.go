package ptree

import (
	"cmp"
	"slices"
	"strconv"
	"syscall"

	"github.com/shirou/gopsutil/v3/mem"
)

// listeningPorts maps PIDs to the TCP ports they listen on and the UDP
// ports they have bound, "tcp:8080" sorted by protocol and number, IPv4 and
// IPv6 merged. Processes this user may not look into have none.
func listeningPorts() (map[int][]string, error) {
	conns, err := inetSockets()
	if err != nil {
		return nil, err
	}
	type port struct {
		proto string
		num   uint32
	}
	byPID := map[int][]port{}
	for _, c := range conns {
		var p port
		switch {
		case c.Type == syscall.SOCK_STREAM && c.Status == "LISTEN":
			p = port{"tcp", c.Laddr.Port}
		case c.Type == syscall.SOCK_DGRAM && c.Raddr.Port == 0:
			p = port{"udp", c.Laddr.Port}
		default:
			continue
		}
		if c.Pid > 0 && !slices.Contains(byPID[int(c.Pid)], p) {
			byPID[int(c.Pid)] = append(byPID[int(c.Pid)], p)
		}
	}
	out := make(map[int][]string, len(byPID))
	for pid, ps := range byPID {
		slices.SortFunc(ps, func(a, b port) int {
			return cmp.Or(cmp.Compare(a.proto, b.proto), cmp.Compare(a.num, b.num))
		})
		for _, p := range ps {
			out[pid] = append(out[pid], p.proto+":"+strconv.FormatUint(uint64(p.num), 10))
		}
	}
	return out, nil
}

// memTotal returns the physical memory in bytes.
func memTotal() (uint64, error) {
	v, err := mem.VirtualMemory()
	if err != nil {
		return 0, err
	}
	return v.Total, nil
}
