package listen

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// meter tells how much a connection has carried and for how long it has
// carried nothing. ok is false when it cannot tell.
type meter interface {
	counts() (in, out int64, idle time.Duration, ok bool)
}

// tcpMeter reads the kernel's counters of a socket handed to a handler.
type tcpMeter struct{ f *os.File }

func (m tcpMeter) counts() (int64, int64, time.Duration, bool) { return tcpCounters(m.f) }

// relay stands between the client and the handler, which gets one end of
// a socket pair instead of the connection, and counts what passes. It is
// the price of --idle and byte counts where the kernel keeps no counters
// of its own (Unix sockets; TCP off Linux): every byte is copied twice.
type relay struct {
	client, handler net.Conn
	in, out         atomic.Int64
	last            atomic.Int64 // UnixNano of the latest data either way
	up, down        chan struct{}
}

// newRelay starts relaying for the accepted socket f (which the caller
// still closes) and returns the handler's end of the pair.
func newRelay(f *os.File) (*relay, *os.File, error) {
	// ForkLock: no child may inherit the pair between socketpair and
	// close-on-exec.
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	ours, child := os.NewFile(uintptr(fds[0]), "relay"), os.NewFile(uintptr(fds[1]), "relay")
	handler, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		child.Close()
		return nil, nil, err
	}
	client, err := net.FileConn(f)
	if err != nil {
		handler.Close()
		child.Close()
		return nil, nil, err
	}
	r := &relay{client: client, handler: handler, up: make(chan struct{}), down: make(chan struct{})}
	r.last.Store(time.Now().UnixNano())
	go r.pipe(handler, client, &r.in, r.up)
	go r.pipe(client, handler, &r.out, r.down)
	return r, child, nil
}

// pipe copies src to dst until src ends, then passes the end of file on.
func (r *relay) pipe(dst, src net.Conn, n *atomic.Int64, done chan struct{}) {
	defer close(done)
	buf := make([]byte, 32<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			r.last.Store(time.Now().UnixNano())
			w, werr := dst.Write(buf[:k])
			n.Add(int64(w))
			if werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

func (r *relay) counts() (int64, int64, time.Duration, bool) {
	return r.in.Load(), r.out.Load(), time.Since(time.Unix(0, r.last.Load())), true
}

// finish runs once the handler has exited: it delivers what the handler
// wrote (waiting at most wait for whatever it left behind to let go of
// its end), then closes both sides.
func (r *relay) finish(wait time.Duration) {
	t := time.NewTimer(wait)
	select {
	case <-r.down:
	case <-t.C:
	}
	t.Stop()
	r.client.Close()
	r.handler.Close()
	<-r.up
	<-r.down
}
