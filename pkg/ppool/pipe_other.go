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

// sendBlock writes data to wr (no vmsplice here).
func sendBlock(wr *os.File, data []byte) error {
	_, err := wr.Write(data)
	return err
}
