package ptree

import "github.com/pkit-sh/pkit/pkg/proc"

// portIndex maps socket inodes to listening ports. On Linux ptree reads
// /proc/net and then only the open files of the processes it shows, where
// gopsutil walks every process's (see docs/conventions.md for the figures).
type portIndex map[uint64]proc.Port

func readPortIndex() (portIndex, error) { return proc.ListeningPorts() }

// of returns the ports n listens on.
func (ix portIndex) of(n *node) ([]string, error) {
	inodes, err := proc.SocketInodes(n.PID)
	if err != nil {
		return nil, err
	}
	var ports []proc.Port
	for _, inode := range inodes {
		if p, ok := ix[inode]; ok {
			ports = append(ports, p)
		}
	}
	return portText(ports), nil
}
