package listen

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// waitExited blocks until pid has exited but leaves it a zombie, so its
// process-group id cannot be reused while we signal what it left behind.
// It waits on a pidfd in the netpoller: a blocked waitid would pin an OS
// thread per handler and keep the scheduler busy handing processors off.
func waitExited(pid int) bool {
	exited := func(idtype, id int) (bool, error) {
		var info unix.Siginfo
		for {
			err := unix.Waitid(idtype, id, &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG, nil)
			if err != unix.EINTR {
				// WNOHANG leaves the siginfo zeroed while the child runs.
				return err == nil && info.Signo != 0, err
			}
		}
	}
	pidfd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil { // before Linux 5.3
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				return err == nil
			}
		}
	}
	f := os.NewFile(uintptr(pidfd), "pidfd")
	defer f.Close()
	raw, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var done bool
	var werr error
	// A pidfd polls readable once the process has exited.
	err = raw.Read(func(fd uintptr) bool {
		done, werr = exited(unix.P_PIDFD, int(fd))
		return done || werr != nil
	})
	return err == nil && done
}

// TCP states (include/net/tcp_states.h).
const (
	stateFinWait1  = 4
	stateFinWait2  = 5
	stateCloseWait = 8
	stateLastAck   = 9
	stateClosing   = 11
)

// tcpCounters reads the kernel's per-connection statistics (TCP_INFO):
// bytes received from the peer, bytes the handler wrote (sent once, plus
// what is still queued), and how long the connection has carried no data
// either way. ok is false for sockets other than TCP.
func tcpCounters(f *os.File) (in, out int64, idle time.Duration, ok bool) {
	raw, err := f.SyscallConn()
	if err != nil {
		return 0, 0, 0, false
	}
	var ti *unix.TCPInfo
	var queued int
	var terr error
	if err := raw.Control(func(fd uintptr) {
		ti, terr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if terr == nil {
			queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		}
	}); err != nil || terr != nil {
		return 0, 0, 0, false
	}
	// A FIN takes a sequence number of its own; it is not a byte of data.
	in, out = int64(ti.Bytes_received), int64(ti.Bytes_acked)+int64(queued)
	switch ti.State {
	case stateCloseWait, stateLastAck, stateClosing:
		in-- // the client's FIN arrived
	}
	switch ti.State {
	case stateFinWait1, stateFinWait2, stateClosing, stateLastAck:
		out-- // the handler shut down its side (our FIN is queued or sent)
	}
	idle = time.Duration(min(ti.Last_data_recv, ti.Last_data_sent)) * time.Millisecond
	return in, out, idle, true
}
