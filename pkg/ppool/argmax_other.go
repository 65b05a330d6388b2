//go:build !linux

package ppool

// argMax is a safe share of the limit on a new program's arguments and
// environment (1 MiB on darwin).
func argMax() int { return 256 << 10 }
