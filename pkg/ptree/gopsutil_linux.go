package ptree

import "github.com/shirou/gopsutil/v3/net"

// inetSockets lists the TCP and UDP sockets with their processes: gopsutil
// reads /proc/net and walks every process's open files, as ss -p does
// (without the owners' UIDs, which ports does not need).
func inetSockets() ([]net.ConnectionStat, error) { return net.ConnectionsWithoutUids("inet") }
