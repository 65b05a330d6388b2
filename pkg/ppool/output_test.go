package ppool

import (
	"bytes"
	"strings"
	"testing"
)

// TestOutFile: each job's output is read from where the last one's ended,
// and the file is emptied once it has grown past outFileReuse.
func TestOutFile(t *testing.T) {
	o, err := newOutFile()
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for i, out := range []string{"one\n", "", "two\n", strings.Repeat("x", outFileReuse), "three\n"} {
		if _, err := o.WriteString(out); err != nil {
			t.Fatal(err)
		}
		n := o.size()
		if got := string(o.read(n)); got != out {
			t.Fatalf("job %d: read %.20q, want %.20q", i, got, out)
		}
		var buf bytes.Buffer
		if o.copyTo(&buf, n) != n || buf.String() != out {
			t.Fatalf("job %d: copied %.20q, want %.20q", i, buf.String(), out)
		}
		o.skip(n)
		if o.size() != 0 {
			t.Fatalf("job %d: %d bytes left after skip", i, o.size())
		}
	}
	if st, err := o.Stat(); err != nil || st.Size() != int64(len("three\n")) {
		t.Fatalf("the file was not emptied past outFileReuse: %v, %v", st.Size(), err)
	}
}
