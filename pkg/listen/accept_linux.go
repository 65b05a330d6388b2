package listen

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// acceptFile duplicates the listening socket as a pollable file: a
// net.Listener's raw connection cannot wait for readiness, a file's can.
func acceptFile(l net.Listener) (*os.File, error) {
	return l.(interface{ File() (*os.File, error) }).File()
}

// accept takes one connection from l as a blocking, close-on-exec file,
// ready to become a handler's stdin and stdout, and describes its peer.
// It bypasses net.Conn: the server never reads or writes the socket, so
// registering it with the netpoller, setting Go's socket options and
// duplicating it into a blocking descriptor would be wasted system calls
// on the hot path.
func accept(l *Listener) (*os.File, peerInfo, error) {
	raw, err := l.file.SyscallConn()
	if err != nil {
		return nil, peerInfo{}, err
	}
	var nfd int
	var sa unix.Sockaddr
	var aerr error
	err = raw.Read(func(fd uintptr) bool {
		// Without SOCK_NONBLOCK the new socket is blocking whatever the
		// listener's mode, as the handler expects.
		nfd, sa, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC)
		return aerr != unix.EAGAIN
	})
	if err == nil {
		err = aerr
	}
	if err != nil {
		return nil, peerInfo{}, os.NewSyscallError("accept4", err)
	}
	f := os.NewFile(uintptr(nfd), "socket")
	if l.Addr.Network == "unix" {
		cred, err := unix.GetsockoptUcred(nfd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return f, unixPeer(l.Addr.Address, 0, 0, 0, false), nil
		}
		return f, unixPeer(l.Addr.Address, int(cred.Pid), int(cred.Uid), int(cred.Gid), true), nil
	}
	local := l.Listener.Addr().(*net.TCPAddr)
	if local.IP.IsUnspecified() {
		// Bound to every interface: the connection says which one.
		if lsa, err := unix.Getsockname(nfd); err == nil {
			local = tcpAddr(lsa)
		}
	}
	return f, tcpPeer(local, tcpAddr(sa)), nil
}

func tcpAddr(sa unix.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, a.Addr[:])
		var zone string
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: ip, Port: a.Port, Zone: zone}
	}
	return &net.TCPAddr{}
}
