package ppool

import (
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		st   progress
		want string
	}{
		{progress{done: 3, total: 10, running: 2, failed: 1}, "ppool: 3/10 done, 2 running, 1 failed"},
		{progress{done: 2, total: 10, running: 2, elapsed: 4 * time.Second, eta: true}, "ppool: 2/10 done, 2 running, 0 failed, ETA 16s"},
		{progress{done: 10, total: 10, elapsed: 4 * time.Second, eta: true}, "ppool: 10/10 done, 0 running, 0 failed"},
		// Pipe mode: by bytes; the ETA from the bytes fed of the input's.
		{progress{pipe: true, done: 1, running: 2, fed: 1 << 20, size: 4 << 20, elapsed: 2 * time.Second, eta: true}, "ppool: 1.0 MiB/4.0 MiB fed, 1 done, 2 running, 0 failed, ETA 6s"},
		{progress{pipe: true, done: 4, fed: 588895, size: 588895, eta: true}, "ppool: 575 KiB/575 KiB fed, 4 done, 0 running, 0 failed"},
		{progress{pipe: true, running: 1, fed: 100}, "ppool: 100 B fed, 0 done, 1 running, 0 failed"},
		{progress{pipe: true, fed: 3 << 30, size: 1 << 42}, "ppool: 3.0 GiB/4.0 TiB fed, 0 done, 0 running, 0 failed"},
	} {
		if got := tc.st.line(); got != tc.want {
			t.Errorf("%+v: %q; want %q", tc.st, got, tc.want)
		}
	}
}
