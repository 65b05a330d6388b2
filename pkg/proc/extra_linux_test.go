package proc

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestParseIO(t *testing.T) {
	io, err := parseIO([]byte("rchar: 6976\nwchar: 12\nsyscr: 10\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"))
	if err != nil || io.ReadBytes != 4096 || io.WriteBytes != 8192 {
		t.Errorf("got %+v, %v", io, err)
	}
	for _, bad := range []string{"", "read_bytes: 1\n", "read_bytes: x\nwrite_bytes: 1\n"} {
		if _, err := parseIO([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseIO(f *testing.F) {
	f.Add([]byte("read_bytes: 1\nwrite_bytes: 2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := parseIO(b); err == nil && !strings.Contains(string(b), "write_bytes: ") {
			t.Fatalf("parsed without write_bytes: %q", b)
		}
	})
}

func TestParseCgroup(t *testing.T) {
	for in, want := range map[string]string{
		"0::/user.slice/user-1000.slice/session-2.scope\n":          "/user.slice/user-1000.slice/session-2.scope",
		"12:pids:/x\n1:name=systemd:/y\n0::/system.slice/a.service": "/system.slice/a.service",
		"4:memory:/docker/abc\n":                                    "",
	} {
		if got := parseCgroup([]byte(in)); got != want {
			t.Errorf("parseCgroup(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTTYName(t *testing.T) {
	for nr, want := range map[int]string{0: "", 136<<8 | 3: "pts/3", 137<<8 | 1: "pts/257", 4<<8 | 1: "tty1", 4<<8 | 65: "ttyS1", 5<<8 | 1: "console", 136<<8 | 0x100000: "pts/4096"} {
		if got := TTYName(nr); got != want {
			t.Errorf("TTYName(%#x) = %q, want %q", nr, got, want)
		}
	}
}

// TestExtrasOfChild reads the extra files of a child this test started: a
// sleep has a wait channel, a cgroup line, open files, and I/O counters.
func TestExtrasOfChild(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := ReadStat(pid)
		if err == nil && s.Comm == "sleep" && s.State == 'S' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep %d never slept: %+v %v", pid, s, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if w, err := Wchan(pid); err != nil || w == "" {
		t.Errorf("wchan %q, %v", w, err)
	}
	if n, err := CountFDs(pid); err != nil || n < 3 {
		t.Errorf("fds %d, %v", n, err)
	}
	if _, err := ReadIO(pid); err != nil {
		t.Errorf("io: %v", err)
	}
	if cg, err := Cgroup(pid); err != nil {
		t.Errorf("cgroup %q, %v", cg, err)
	} else if own, _ := Cgroup(os.Getpid()); cg != own {
		t.Errorf("child's cgroup %q is not ours, %q", cg, own)
	}
}
