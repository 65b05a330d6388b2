package ptree

import "github.com/shirou/gopsutil/v3/mem"

// memTotal returns the physical memory in bytes.
func memTotal() (uint64, error) {
	v, err := mem.VirtualMemory()
	if err != nil {
		return 0, err
	}
	return v.Total, nil
}
