// Package qconn holds the command-line options that say where queues live:
// a local directory (pkg/queue/local, the default) or a NATS JetStream
// server such as pqueued (pkg/queue/natsq) and the credentials for it.
// pqueue and ppool embed Flags, so both take the same --dir, --url,
// --token, ... and read the same environment variables.
//
// The server's client is not imported here but passed in (a Dialer), so
// that a binary for local queues need not link it: a local pqueue call
// takes a third less time without it.
package qconn

import (
	"errors"
	"os"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/local"
)

// Dialer opens the queues of the server at url (natsq.Open). Errors that
// a retry will not fix wrap queue.ErrRefused or queue.ErrTLS.
type Dialer func(url string, auth queue.Auth) (queue.Backend, error)

// Flags selects a queue backend. Embed it in a kong grammar; each flag
// defaults to its environment variable.
type Flags struct {
	Dir    string `name:"dir" env:"PQUEUE_DIR" placeholder:"DIR" group:"Queue location" help:"Directory of the local queues (default: the pkit runtime directory's queues/; use a persistent one such as /var/lib/NAME to survive reboots)."`
	URL    string `name:"url" env:"PQUEUE_URL" placeholder:"URL" group:"Queue location" help:"Use the queues of the NATS JetStream server at URL (nats://HOST:PORT, e.g. a pqueued) instead of a local directory."`
	Server `embed:"" envprefix:"PQUEUE_" group:"Queue location"`
}

// Server holds the credentials for a NATS server given by a tool's --url
// and how to check its certificate. Embed it with the tool's envprefix
// (PQUEUE_, PSHM_): each flag defaults to that prefix's variable.
type Server struct {
	Token    string `name:"token" env:"TOKEN" placeholder:"T" help:"With --url: authenticate with this token."`
	User     string `name:"user" env:"USER" placeholder:"U" help:"With --url: authenticate as this user (with --password)."`
	Password string `name:"password" env:"PASSWORD" placeholder:"P" help:"With --url: password of --user (prefer $$${env}: arguments are visible to other users) ($$${env})."`
	Creds    string `name:"creds" env:"CREDS" type:"path" placeholder:"FILE" help:"With --url: authenticate with this NATS credentials file (JWT and NKey seed)."`
	TLSCA    string `name:"tls-ca" env:"TLS_CA" type:"path" placeholder:"FILE" help:"With --url: verify the server's certificate with this CA (PEM)."`
	TLSCert  string `name:"tls-cert" env:"TLS_CERT" type:"path" placeholder:"FILE" help:"With --url: present this client certificate (PEM, with --tls-key)."`
	TLSKey   string `name:"tls-key" env:"TLS_KEY" type:"path" placeholder:"FILE" help:"With --url: private key of --tls-cert (PEM)."`
}

// FromEnv returns the Flags that the environment alone gives: what a
// kong parse without options fills in.
func FromEnv() Flags {
	return Flags{Dir: os.Getenv("PQUEUE_DIR"), URL: os.Getenv("PQUEUE_URL"), Server: ServerFromEnv("PQUEUE_")}
}

// ServerFromEnv returns the Server that the variables of prefix env give.
func ServerFromEnv(env string) Server {
	return Server{
		Token: os.Getenv(env + "TOKEN"), User: os.Getenv(env + "USER"), Password: os.Getenv(env + "PASSWORD"),
		Creds: os.Getenv(env + "CREDS"), TLSCA: os.Getenv(env + "TLS_CA"),
		TLSCert: os.Getenv(env + "TLS_CERT"), TLSKey: os.Getenv(env + "TLS_KEY"),
	}
}

// Remote reports whether the queues are on a server.
func (f *Flags) Remote() bool { return f.URL != "" }

// Auth returns the NATS credentials of f, or a usage error for a
// combination that cannot work.
func (f *Flags) Auth() (queue.Auth, error) { return f.Server.Auth("PQUEUE_") }

// Auth returns the NATS credentials of s, or a usage error for a
// combination that cannot work; env is the prefix of the tool's
// environment variables, for the messages.
func (s *Server) Auth(env string) (queue.Auth, error) {
	a := queue.Auth{Token: s.Token, User: s.User, Password: s.Password, Creds: s.Creds,
		TLSCA: s.TLSCA, TLSCert: s.TLSCert, TLSKey: s.TLSKey}
	methods := 0
	for _, set := range []bool{a.Token != "", a.User != "", a.Creds != ""} {
		if set {
			methods++
		}
	}
	switch {
	case methods > 1:
		return a, cli.Usagef("use one of --token, --user/--password and --creds")
	case a.User != "" && a.Password == "":
		return a, cli.Usagef("--user needs --password (or $%sPASSWORD)", env)
	case a.User == "" && a.Password != "":
		return a, cli.Usagef("--password needs --user")
	case (a.TLSCert == "") != (a.TLSKey == ""):
		return a, cli.Usagef("--tls-cert and --tls-key go together")
	}
	for _, file := range []struct{ flag, path string }{
		{"--creds", a.Creds}, {"--tls-ca", a.TLSCA}, {"--tls-cert", a.TLSCert}, {"--tls-key", a.TLSKey},
	} {
		if file.path == "" {
			continue
		}
		if _, err := os.Stat(file.path); err != nil {
			return a, cli.Usagef("%s: %v", file.flag, err)
		}
	}
	return a, nil
}

// Backend opens the queues f selects: those of the server at --url,
// through dial (which must be set then), else the local directory --dir
// (default: the runtime directory's queues/). Credentials the server
// refuses, or a failed TLS set-up, are usage errors (exit 2): retrying will
// not help.
func (f *Flags) Backend(dial Dialer) (queue.Backend, error) {
	if f.URL != "" {
		auth, err := f.Auth()
		if err != nil {
			return nil, err
		}
		b, err := dial(f.URL, auth)
		if errors.Is(err, queue.ErrRefused) || errors.Is(err, queue.ErrTLS) {
			return nil, cli.Exit(cli.ExitUsage, err)
		}
		return b, err
	}
	dir := f.Dir
	if dir == "" {
		d, err := cli.RuntimeSubdir("queues")
		if err != nil {
			return nil, err
		}
		dir = d
	} else if err := cli.SafeDir(dir); err != nil {
		return nil, err
	}
	return local.New(dir, local.Options{}), nil
}
