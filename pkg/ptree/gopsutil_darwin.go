package ptree

import "github.com/shirou/gopsutil/v3/net"

// inetSockets lists the TCP and UDP sockets with their processes: gopsutil
// runs lsof(8) on darwin, its only way there without cgo.
func inetSockets() ([]net.ConnectionStat, error) { return net.Connections("inet") }
