//go:build !linux && !darwin

package ppool

// loadAvg and memAvailable need /proc; elsewhere --load and --memfree
// never hold a job back.
func loadAvg() float64 { return 0 }

func memAvailable() uint64 { return ^uint64(0) }
