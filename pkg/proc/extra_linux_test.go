package proc

import (
	"net"
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
	for nr, want := range map[int]string{0: "", 136<<8 | 3: "pts/3", 137<<8 | 1: "pts/257", 4<<8 | 1: "tty1", 4<<8 | 65: "ttyS1", 5<<8 | 1: "console", 136<<8 | 0x100000: "pts/256"} {
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
	// A sleep is in state S, with a wait channel, once it is in nanosleep;
	// before that (exec, loading) it may show S between runs without one.
	for {
		s, err := ReadStat(pid)
		w, werr := Wchan(pid)
		if err == nil && s.Comm == "sleep" && s.State == 'S' && werr == nil && w != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep %d never slept: %+v %v; wchan %q, %v", pid, s, err, w, werr)
		}
		time.Sleep(10 * time.Millisecond)
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

func TestParseSockets(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1
`
	udp := `   sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000000000000000000000000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2001 2 0000000000000000 0
  101: 00000000000000000000000001000000:B3C2 00000000000000000000000001000000:0035 01 00000000:00000000 00:00000000 00000000     0        0 2002 2 0000000000000000 0
`
	out := map[uint64]Port{}
	parseSockets([]byte(tcp), "tcp", tcpListen, out)
	parseSockets([]byte(udp), "udp", udpUnconnected, out)
	if len(out) != 2 || out[1001] != (Port{"tcp", 8080}) || out[2001] != (Port{"udp", 53}) {
		t.Errorf("got %v", out)
	}
}

func FuzzParseSockets(f *testing.F) {
	f.Add([]byte("h\n 0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 7 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := map[uint64]Port{}
		parseSockets(b, "tcp", tcpListen, out)
		for inode := range out {
			if inode == 0 {
				t.Fatalf("inode 0 from %q", b)
			}
		}
	})
}

// TestSocketInodes: a listening socket of this process is found by its
// inode among its open files, with its port.
func TestSocketInodes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := uint16(l.Addr().(*net.TCPAddr).Port)
	ports, err := ListeningPorts()
	if err != nil {
		t.Fatal(err)
	}
	inodes, err := SocketInodes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, inode := range inodes {
		if ports[inode] == (Port{"tcp", want}) {
			return
		}
	}
	t.Errorf("tcp:%d not among the sockets %v of this process", want, inodes)
}
