package pspawn

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestRotLog: the log and LOG.1 together hold the last half to whole of
// the limit, in order, however the writes are cut.
func TestRotLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j1.log")
	l, err := newRotLog(path, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for i := range 500 {
		line := fmt.Sprintf("line %d\n", i)
		all.WriteString(line)
		if _, err := l.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.ReadFile(path + ".1")
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kept := append(old, cur...)
	if len(kept) < 500 || len(kept) > 1000 || !bytes.HasSuffix(all.Bytes(), kept) {
		t.Fatalf("kept %d bytes (%d in .1): %q", len(kept), len(old), kept)
	}
}
