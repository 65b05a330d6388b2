//go:build linux

package cmd_test

import (
	"strings"
	"testing"
)

// TestPpoolPipeProgressTTY: in pipe mode, progress goes by bytes and is
// shown by default when stderr is a terminal (and only then).
func TestPpoolPipeProgressTTY(t *testing.T) {
	out := ptyShell(t, `seq 100000 > f; ppool --pipe --block 10K -j2 wc -l < f > out; echo rc=$?; ppool --pipe -j2 wc -l < f 2> err > out; echo err=$(wc -c < err)`, nil)
	if !strings.Contains(out, "ppool: 575 KiB/575 KiB fed, ") || !strings.Contains(out, " 0 running, 0 failed\x1b[K\nrc=0\n") {
		t.Errorf("no final progress line by bytes on the terminal; it showed:\n%q", out)
	}
	if !strings.Contains(out, "err=0\n") {
		t.Errorf("progress shown when stderr is not a terminal:\n%q", out)
	}
}
