//go:build !linux

package ppool

import (
	"io"
	"os"
)

func growPipe(*os.File, int64) {}

// sendRange writes n bytes of f from off to wr (no splice here).
func sendRange(wr, f *os.File, off, n int64) error {
	_, err := io.Copy(wr, io.NewSectionReader(f, off, n))
	return err
}
