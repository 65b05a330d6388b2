package proc

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ListeningPorts maps the inodes of the listening TCP sockets and the
// bound, unconnected UDP sockets of this network namespace to their ports,
// from /proc/net (a table missing because IPv6 is off is skipped).
func ListeningPorts() (map[uint64]Port, error) {
	out := map[uint64]Port{}
	for _, t := range []struct{ file, proto, state string }{
		{"tcp", "tcp", tcpListen}, {"tcp6", "tcp", tcpListen}, {"udp", "udp", udpUnconnected}, {"udp6", "udp", udpUnconnected},
	} {
		b, err := os.ReadFile("/proc/net/" + t.file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		parseSockets(b, t.proto, t.state, out)
	}
	return out, nil
}

// The st column of /proc/net/{tcp,udp}: TCP_LISTEN, and TCP_CLOSE, which a
// UDP socket that is bound but not connected shows.
const (
	tcpListen      = "0A"
	udpUnconnected = "07"
)

// parseSockets adds the sockets in state of one /proc/net table to out:
// "sl local_address rem_address st ... uid timeout inode ...", addresses
// as hex IP:PORT.
func parseSockets(b []byte, proto, state string, out map[uint64]Port) {
	first := true
	for line := range bytes.Lines(b) {
		if first { // the header
			first = false
			continue
		}
		f := bytes.Fields(line)
		if len(f) < 10 || string(f[3]) != state {
			continue
		}
		local, ok := hexPort(f[1])
		remote, rok := hexPort(f[2])
		inode, iok := parseUint(f[9])
		if !ok || !rok || !iok || inode == 0 || remote != 0 {
			continue
		}
		out[inode] = Port{proto, local}
	}
}

// hexPort returns the port of a hex "IP:PORT" address.
func hexPort(addr []byte) (uint16, bool) {
	i := bytes.LastIndexByte(addr, ':')
	if i < 0 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(addr[i+1:]), 16, 16)
	return uint16(v), err == nil
}

// SocketInodes returns the inodes of the sockets process pid has open.
func SocketInodes(pid int) ([]uint64, error) {
	var out []uint64
	buf := make([]byte, 64)
	err := eachName("/proc/"+strconv.Itoa(pid)+"/fd", func(dir int, name string) {
		// Relative to the open directory: no walk of /proc/PID per file.
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil || n == len(buf) {
			return // closed since, or not a socket (a long path)
		}
		if rest, ok := bytes.CutPrefix(buf[:n], []byte("socket:[")); ok && len(rest) > 1 && rest[len(rest)-1] == ']' {
			if inode, ok := parseUint(rest[:len(rest)-1]); ok {
				out = append(out, inode)
			}
		}
	})
	return out, err
}

// eachName calls f with the open directory dir and the name of each of its
// entries. It reads with getdents directly: os.Open would also register
// each directory with the runtime's poller, a system call more per process.
func eachName(path string, f func(dir int, name string)) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	var names []string
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "getdents", Path: path, Err: err}
		}
		if n <= 0 {
			return nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names[:0])
		for _, name := range names {
			f(fd, name)
		}
	}
}
