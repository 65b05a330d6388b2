//go:build !linux

package pjoin

import "io"

// writeOut writes a line of output.
func writeOut(w io.Writer, b []byte) { w.Write(b) }
