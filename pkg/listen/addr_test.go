package listen

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		in, network, addr string
		bad               bool
	}{
		{":8080", "tcp", "127.0.0.1:8080", false},
		{"localhost:0", "tcp", "127.0.0.1:0", false},
		{"127.0.0.1:0", "tcp", "127.0.0.1:0", false},
		{"0.0.0.0:80", "tcp", "0.0.0.0:80", false},
		{"[::]:80", "tcp", "[::]:80", false},
		{"[::1]:9", "tcp", "[::1]:9", false},
		{"unix:/tmp/s", "unix", "/tmp/s", false},
		{"unix:rel/s", "unix", "rel/s", false},
		{"unix:", "", "", true},
		{"unix:" + strings.Repeat("a", 108), "", "", true},
		{"8080", "", "", true},
		{"example.com:80", "", "", true},
		{":65536", "", "", true},
		{":-1", "", "", true},
		{":http", "", "", true},
		{"", "", "", true},
	} {
		a, err := ParseAddr(tc.in)
		if (err != nil) != tc.bad || a.Network != tc.network || a.Address != tc.addr {
			t.Errorf("ParseAddr(%q) = %+v, %v; want %s %s bad=%v", tc.in, a, err, tc.network, tc.addr, tc.bad)
		}
		if err == nil {
			if b, err := ParseAddr(a.String()); err != nil || b != a {
				t.Errorf("ParseAddr(%q.String()) = %+v, %v", tc.in, b, err)
			}
		}
	}
}

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{":0", "127.0.0.1:80", "[::1]:1", "unix:/x", "unix:", "a:b:c", "[::1%eth0]:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		if err != nil {
			return
		}
		if a.Network != "tcp" && a.Network != "unix" {
			t.Fatalf("ParseAddr(%q) network %q", s, a.Network)
		}
		if b, err := ParseAddr(a.String()); err != nil || b != a {
			t.Fatalf("round trip of %q: %+v -> %+v, %v", s, a, b, err)
		}
	})
}

func TestListenUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	a := Addr{Network: "unix", Address: path}
	l, err := Listen(a)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if _, err := Listen(a); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Fatalf("second Listen on a live socket: %v", err)
	}
	l.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket file left after Close: %v", err)
	}

	// A socket file whose server died (nobody accepts) is replaced.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	l, err = Listen(a)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	l.Close()

	// A regular file is never removed.
	os.WriteFile(path, []byte("data"), 0o600)
	if _, err := Listen(a); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Listen over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "data" {
		t.Fatal("regular file was touched")
	}
}

func TestListenTCPPortZero(t *testing.T) {
	l, err := Listen(Addr{Network: "tcp", Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if strings.HasSuffix(l.Addr.String(), ":0") || !strings.HasPrefix(l.Addr.String(), "127.0.0.1:") {
		t.Fatalf("bound address %q", l.Addr)
	}
}
