//go:build !linux

package listen

import (
	"fmt"
	"net"
	"os"
)

// acceptFile is not needed: accept goes through the net.Listener.
func acceptFile(net.Listener) (*os.File, error) { return nil, nil }

// accept takes one connection from l as a file a handler can use as
// stdin and stdout, and describes its peer.
func accept(l *Listener) (*os.File, peerInfo, error) {
	conn, err := l.Accept()
	if err != nil {
		return nil, peerInfo{}, err
	}
	defer conn.Close() // the file is a duplicate that keeps the socket open
	fc, ok := conn.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, peerInfo{}, fmt.Errorf("connection %T has no file descriptor", conn)
	}
	f, err := fc.File()
	if err != nil {
		return nil, peerInfo{}, err
	}
	if c, ok := conn.(*net.TCPConn); ok {
		return f, tcpPeer(c.LocalAddr(), c.RemoteAddr()), nil
	}
	return f, unixPeer(l.Addr.Address, 0, 0, 0, false), nil
}
