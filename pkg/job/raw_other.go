//go:build !linux

package job

import "os"

// readRaw reads a file; only Linux has a reason to do it with raw calls.
func readRaw(path string) ([]byte, error) { return os.ReadFile(path) }
