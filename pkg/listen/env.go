package listen

import (
	"net"
	"strconv"
	"strings"
)

// peerInfo is what a handler learns about its connection: the environment
// tcpserver and unixserver (ucspi) set, and a one-word peer for {} and logs.
type peerInfo struct {
	peer string   // "IP:PORT", or "pid=PID,uid=UID" for a Unix socket
	ip   string   // remote IP for --max-per-ip ("" for Unix sockets)
	env  []string // PROTO=TCP TCPREMOTEIP=... or PROTO=UNIX UNIXREMOTEPID=...
}

// baseEnv returns environ without the variables of an outer tcpserver or
// unixserver, so a handler never sees a stale peer.
func baseEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if name == "PROTO" || isUcspiName(name, "TCP") || isUcspiName(name, "UNIX") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func isUcspiName(name, proto string) bool {
	rest, ok := strings.CutPrefix(name, proto)
	if !ok {
		return false
	}
	for _, s := range []string{"LOCALIP", "LOCALPORT", "LOCALHOST", "LOCALPATH", "REMOTEIP", "REMOTEPORT", "REMOTEHOST", "REMOTEINFO", "REMOTEPID", "REMOTEUID", "REMOTEGID"} {
		if rest == s {
			return true
		}
	}
	return false
}

// tcpPeer describes a TCP connection. IPv6 peers use the same TCP names
// (not tcpserver6's TCP6...), so handlers need not care which family
// they were reached over.
func tcpPeer(local, remote net.Addr) peerInfo {
	l, r := local.(*net.TCPAddr), remote.(*net.TCPAddr)
	lip, rip := unmap(l.IP), unmap(r.IP)
	return peerInfo{
		peer: net.JoinHostPort(rip, strconv.Itoa(r.Port)),
		ip:   rip,
		env: []string{
			"PROTO=TCP",
			"TCPLOCALIP=" + lip,
			"TCPLOCALPORT=" + strconv.Itoa(l.Port),
			"TCPREMOTEIP=" + rip,
			"TCPREMOTEPORT=" + strconv.Itoa(r.Port),
		},
	}
}

// unmap prints an IPv4-mapped IPv6 address (a v4 client of a [::] socket)
// as plain IPv4, as the client knows itself.
func unmap(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}

// unixPeer describes a Unix-socket connection from its peer credentials;
// ok is false where the system cannot tell them.
func unixPeer(path string, pid, uid, gid int, ok bool) peerInfo {
	p := peerInfo{env: []string{"PROTO=UNIX", "UNIXLOCALPATH=" + path}, peer: "unix"}
	if ok {
		p.peer = "pid=" + strconv.Itoa(pid) + ",uid=" + strconv.Itoa(uid)
		p.env = append(p.env,
			"UNIXREMOTEPID="+strconv.Itoa(pid),
			"UNIXREMOTEUID="+strconv.Itoa(uid),
			"UNIXREMOTEGID="+strconv.Itoa(gid))
	}
	return p
}
