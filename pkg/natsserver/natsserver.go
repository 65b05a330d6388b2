// Package natsserver runs an embedded NATS server with JetStream: the
// broker behind pqueue --url nats://... . It lives in its own package (and
// binary, pqueued) because linking nats-server costs every binary that
// imports it about 3 ms of start-up time.
package natsserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config is what pqueued exposes of the server's options.
type Config struct {
	Listen     string // host:port; port 0 picks a free one
	StoreDir   string // JetStream file store
	Token      string // client auth token, or
	User       string // user and
	Password   string // password
	TLSCert    string // server certificate (PEM), with TLSKey
	TLSKey     string
	TLSCA      string // when set, clients must present a certificate it signed
	SyncAlways bool   // fsync every message before acknowledging it
	Cluster    string // host:port for cluster routes (empty: no cluster)
	Routes     []string
	Name       string // server name, required in a cluster
}

// Loopback reports whether host only accepts local connections.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server is a running embedded server.
type Server struct{ ns *server.Server }

// Start starts a server with cfg and waits until it accepts clients. A
// non-loopback listen address without auth is refused: a JetStream open to
// the network without credentials would hand anyone the queues.
func Start(cfg Config) (*Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen address %q: bad port", cfg.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if cfg.Token != "" && cfg.User != "" {
		return nil, errors.New("use either a token or a user and password, not both")
	}
	if (cfg.User == "") != (cfg.Password == "") {
		return nil, errors.New("a user needs a password and a password needs a user")
	}
	if !Loopback(host) && cfg.Token == "" && cfg.User == "" && cfg.TLSCA == "" {
		return nil, fmt.Errorf("refusing to listen on %s without authentication: pass --token, --user/--password or --tls-ca, or listen on 127.0.0.1", host)
	}
	if cfg.StoreDir == "" {
		return nil, errors.New("no store directory")
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		SyncAlways: cfg.SyncAlways,
		NoSigs:     true,
		NoLog:      true,
		// Graceful shutdown must not hang on clients; they reconnect.
		LameDuckDuration:    2 * time.Second,
		LameDuckGracePeriod: time.Second,
	}
	if cfg.Token != "" {
		opts.Authorization = cfg.Token
	}
	if cfg.User != "" {
		opts.Username, opts.Password = cfg.User, cfg.Password
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if cfg.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, CaFile: cfg.TLSCA, Verify: cfg.TLSCA != ""})
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		tc.MinVersion = tls.VersionTLS12
		opts.TLSConfig, opts.TLS, opts.TLSVerify = tc, true, cfg.TLSCA != ""
		opts.TLSTimeout = 2
	} else if cfg.TLSCA != "" {
		return nil, errors.New("--tls-ca needs --tls-cert and --tls-key")
	}
	if cfg.Cluster != "" {
		ch, cp, err := net.SplitHostPort(cfg.Cluster)
		if err != nil {
			return nil, fmt.Errorf("cluster address %q: %w", cfg.Cluster, err)
		}
		p, err := strconv.Atoi(cp)
		if err != nil {
			return nil, fmt.Errorf("cluster address %q: bad port", cfg.Cluster)
		}
		if cfg.Name == "" {
			return nil, errors.New("a cluster member needs --name")
		}
		opts.Cluster = server.ClusterOpts{Name: "pkit", Host: ch, Port: p}
		for _, r := range cfg.Routes {
			opts.Routes = append(opts.Routes, server.RoutesFromStr(r)...)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("server did not become ready on %s (port in use?)", cfg.Listen)
	}
	return &Server{ns: ns}, nil
}

// URL is the client URL, nats://host:port (clients upgrade to TLS when
// the server requires it).
func (s *Server) URL() string { return s.ns.ClientURL() }

// Shutdown stops the server, flushing the store; data stays on disk.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
