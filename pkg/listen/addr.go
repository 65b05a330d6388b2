package listen

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Addr is a parsed --listen address: a TCP host:port or a Unix socket path.
type Addr struct {
	Network string // "tcp" or "unix"
	Address string // "127.0.0.1:80", "[::1]:80" or a path
}

// String gives the address in the syntax ParseAddr accepts, so a printed
// address can be fed back to --listen or a client.
func (a Addr) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Address
	}
	return a.Address
}

// ParseAddr parses HOST:PORT, :PORT (loopback: serving every interface must
// be asked for with 0.0.0.0:PORT or [::]:PORT) or unix:PATH.
func ParseAddr(s string) (Addr, error) {
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if path == "" {
			return Addr{}, fmt.Errorf("invalid address %q: empty socket path", s)
		}
		if strings.IndexByte(path, 0) >= 0 {
			return Addr{}, fmt.Errorf("invalid address %q: NUL in socket path", s)
		}
		// sun_path holds 108 bytes including the terminating NUL.
		if len(path) > 107 {
			return Addr{}, fmt.Errorf("invalid address %q: socket path longer than 107 bytes", s)
		}
		return Addr{Network: "unix", Address: path}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Addr{}, fmt.Errorf("invalid address %q: want HOST:PORT, :PORT or unix:PATH", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return Addr{}, fmt.Errorf("invalid address %q: port %q is not a number from 0 to 65535", s, port)
	}
	switch {
	case host == "" || host == "localhost":
		host = "127.0.0.1"
	case net.ParseIP(host) == nil:
		// Resolving names would make the bound interface depend on DNS;
		// a server should say exactly where it listens.
		return Addr{}, fmt.Errorf("invalid address %q: host must be an IP address (or localhost)", s)
	}
	return Addr{Network: "tcp", Address: net.JoinHostPort(host, strconv.FormatUint(n, 10))}, nil
}

// Listener is a bound socket. Closing it removes a Unix socket's file.
type Listener struct {
	net.Listener
	Addr Addr     // the bound address: port 0 replaced by the real port
	file *os.File // a pollable duplicate for accept, where the platform uses one
}

// Close stops listening; clients still in the backlog are reset.
func (l *Listener) Close() error {
	if l.file != nil {
		l.file.Close()
	}
	return l.Listener.Close()
}

func newListener(nl net.Listener, a Addr) (*Listener, error) {
	f, err := acceptFile(nl)
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("listen on %s: %w", a, err)
	}
	return &Listener{Listener: nl, Addr: a, file: f}, nil
}

// Listen binds a. A Unix socket is created with mode 0600; a socket file
// left behind by a dead server is replaced, a live one is refused.
func Listen(a Addr) (*Listener, error) {
	if a.Network == "unix" {
		return listenUnix(a)
	}
	l, err := net.Listen("tcp", a.Address)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", a, unwrapOp(err))
	}
	return newListener(l, Addr{Network: "tcp", Address: l.Addr().String()})
}

func listenUnix(a Addr) (*Listener, error) {
	path := a.Address
	if err := removeStale(path); err != nil {
		return nil, err
	}
	// The mode comes from the umask at bind time; chmod after bind would
	// leave a window in which anyone may connect. Listen runs at start-up,
	// before the server creates files concurrently.
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", a, unwrapOp(err))
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	return newListener(l, a)
}

// removeStale removes path if it is a socket nobody accepts on. A file that
// is not a socket, or a socket a live server answers on, is an error.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listen on unix:%s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("listen on unix:%s: file exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("listen on unix:%s: a server is already listening there", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("listen on unix:%s: probe existing socket: %w", path, unwrapOp(err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("listen on unix:%s: remove stale socket: %w", path, err)
	}
	return nil
}

// unwrapOp drops net.OpError's repetition of the address we already name.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Err
		}
		return op.Err
	}
	return err
}
