// Package natsauth holds the command-line options with which a tool's
// client proves who it is to a NATS server (--token, --user/--password,
// --creds) and checks the server's identity (--tls-ca, --tls-cert,
// --tls-key). pqueue and ppool embed them under PQUEUE_ environment
// variables (through pkg/queue/qconn), pshm under PSHM_.
package natsauth

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/queue"
)

// Server holds the credentials for a NATS server given by a tool's --url
// and how to check its certificate. Embed it with the tool's envprefix
// (PQUEUE_, PSHM_): each flag defaults to that prefix's variable.
type Server struct {
	Token    string `name:"token" env:"TOKEN" placeholder:"T" help:"With --url: authenticate with this token."`
	User     string `name:"user" env:"USER" placeholder:"U" help:"With --url: authenticate as this user (with --password)."`
	Password string `name:"password" env:"PASSWORD" placeholder:"P" help:"With --url: password of --user (prefer $$${env}: arguments are visible to other users)."`
	Creds    string `name:"creds" env:"CREDS" type:"path" placeholder:"FILE" help:"With --url: authenticate with this NATS credentials file (JWT and NKey seed)."`
	TLSCA    string `name:"tls-ca" env:"TLS_CA" type:"path" placeholder:"FILE" help:"With --url: verify the server's certificate with this CA (PEM)."`
	TLSCert  string `name:"tls-cert" env:"TLS_CERT" type:"path" placeholder:"FILE" help:"With --url: present this client certificate (PEM, with --tls-key)."`
	TLSKey   string `name:"tls-key" env:"TLS_KEY" type:"path" placeholder:"FILE" help:"With --url: private key of --tls-cert (PEM)."`
}

// FromEnv returns the Server that the variables of prefix env give: what
// a kong parse without options fills in.
func FromEnv(env string) Server {
	return Server{
		Token: os.Getenv(env + "TOKEN"), User: os.Getenv(env + "USER"), Password: os.Getenv(env + "PASSWORD"),
		Creds: os.Getenv(env + "CREDS"), TLSCA: os.Getenv(env + "TLS_CA"),
		TLSCert: os.Getenv(env + "TLS_CERT"), TLSKey: os.Getenv(env + "TLS_KEY"),
	}
}

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
