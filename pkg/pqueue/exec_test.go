package pqueue

import (
	"bytes"
	"io"
	"testing"
)

// itemInput holds the whole item before anyone reads it: in a pipe when
// it fits (grown past its default capacity if need be), else in a file.
func TestItemInput(t *testing.T) {
	for _, n := range []int{0, 10, 4096, 100 << 10, 1<<20 + 1, 3 << 20} {
		in := bytes.Repeat([]byte{'x'}, n)
		f, err := itemInput(in)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(got, in) {
			t.Errorf("%d bytes: read back %d bytes, %v", n, len(got), err)
		}
	}
}
