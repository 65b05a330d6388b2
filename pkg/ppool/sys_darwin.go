package ppool

import (
	"github.com/shirou/gopsutil/v3/load"
	"github.com/shirou/gopsutil/v3/mem"
)

// loadAvg is the 1-minute load average, from the vm.loadavg sysctl; 0
// (never holding a job back) when it cannot be read.
func loadAvg() float64 {
	l, err := load.Avg()
	if err != nil {
		return 0
	}
	return l.Load1
}

// memAvailable is the memory available without swapping, in bytes
// (gopsutil runs vm_stat(1) for it); all of it when it cannot be read.
func memAvailable() uint64 {
	v, err := mem.VirtualMemory()
	if err != nil {
		return ^uint64(0)
	}
	return v.Available
}
