package proc

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	line := "1234 (a) b) c) S 1 1234 1234 34816 1234 4194560 100 0 0 0 5 6 0 0 20 0 3 0 98765 1000000 250 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 256\n"
	s, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s.PID != 1234 || s.Comm != "a) b) c" || s.State != 'S' || s.PPID != 1 || s.StartTime != 98765 || s.NumThreads != 3 || s.RSS != 250 || !s.HasExit || s.ExitCode != 256 {
		t.Errorf("got %+v", s)
	}
}

func TestReadStatSelf(t *testing.T) {
	s, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.PID != os.Getpid() || s.PPID != os.Getppid() || s.StartTime == 0 {
		t.Errorf("got %+v", s)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 10 100 5"))
	f.Add([]byte("7 ((x)) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStat(b)
		if err == nil && s.State == 0 {
			t.Fatalf("parsed without state: %q", b)
		}
	})
}
