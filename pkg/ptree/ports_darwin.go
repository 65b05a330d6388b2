package ptree

import (
	"syscall"

	"github.com/shirou/gopsutil/v3/net"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// portIndex maps PIDs to the ports they listen on. gopsutil runs lsof(8)
// for it on darwin, its only way there without cgo.
type portIndex map[int][]proc.Port

func readPortIndex() (portIndex, error) {
	conns, err := net.Connections("inet")
	if err != nil {
		return nil, err
	}
	ix := portIndex{}
	for _, c := range conns {
		switch {
		case c.Type == syscall.SOCK_STREAM && c.Status == "LISTEN":
			ix[int(c.Pid)] = append(ix[int(c.Pid)], proc.Port{Proto: "tcp", Num: uint16(c.Laddr.Port)})
		case c.Type == syscall.SOCK_DGRAM && c.Raddr.Port == 0:
			ix[int(c.Pid)] = append(ix[int(c.Pid)], proc.Port{Proto: "udp", Num: uint16(c.Laddr.Port)})
		}
	}
	return ix, nil
}

// of returns the ports n listens on.
func (ix portIndex) of(n *node) ([]string, error) { return portText(ix[n.PID]), nil }
