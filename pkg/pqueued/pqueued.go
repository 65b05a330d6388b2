// Package pqueued is the pqueued command: an embedded NATS JetStream server
// that pqueue reaches with --url, so that workers on many machines share
// queues. It prints the client URL on stdout, then serves until SIGTERM or
// SIGINT, shutting down gracefully with the queued items kept in --store.
package pqueued

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/rundir"
)

// Main runs pqueued with args and returns its exit status.
func Main(args []string) int { return cli.Run(Command(), args) }

// Command describes pqueued for cli.Run and the tests.
func Command() *cli.Command {
	return &cli.Command{Name: "pqueued", Help: "Serve pqueue queues to many machines (embedded NATS JetStream).", Grammar: &grammar{}}
}

type grammar struct {
	Listen     string   `help:"Address to listen on (HOST:PORT; port 0 picks a free one)." default:"127.0.0.1:4222" placeholder:"ADDR"`
	Store      string   `help:"Directory of the queues' store (default: pqueued under the runtime directory)." type:"path" placeholder:"DIR"`
	Token      string   `help:"Require this client token." env:"PQUEUE_TOKEN" placeholder:"T"`
	User       string   `help:"Require this user (with --password) (default: none)." placeholder:"U"`
	Password   string   `help:"Password of --user." env:"PQUEUE_PASSWORD" placeholder:"P"`
	TLSCert    string   `name:"tls-cert" help:"Serve TLS with this certificate (PEM) (default: none, plain TCP)." type:"path" placeholder:"FILE"`
	TLSKey     string   `name:"tls-key" help:"Private key of --tls-cert (PEM) (default: none)." type:"path" placeholder:"FILE"`
	TLSCA      string   `name:"tls-ca" help:"Require client certificates signed by this CA (PEM) (default: none)." type:"path" placeholder:"FILE"`
	Sync       string   `help:"When to fsync: 'always' (every message, survives power loss) or 'default' (periodically)." enum:"default,always" default:"default"`
	Cluster    string   `help:"Join a cluster: listen for routes on HOST:PORT (default: none, a single server)." placeholder:"ADDR"`
	Routes     []string `help:"Cluster routes to other members, nats://HOST:PORT (default: none)." placeholder:"URL"`
	ServerName string   `name:"name" help:"Server name, required in a cluster (default: generated)." placeholder:"NAME"`
}

func (g *grammar) Run(env *cli.Env) error {
	store := g.Store
	if store == "" {
		dir, err := rundir.Subdir("pqueued")
		if err != nil {
			return err
		}
		store = dir
	}
	if err := os.MkdirAll(store, 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	store, _ = filepath.Abs(store)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	srv, err := natsserver.Start(natsserver.Config{
		Listen: g.Listen, StoreDir: store, Token: g.Token, User: g.User, Password: g.Password,
		TLSCert: g.TLSCert, TLSKey: g.TLSKey, TLSCA: g.TLSCA, SyncAlways: g.Sync == "always",
		Cluster: g.Cluster, Routes: g.Routes, Name: g.ServerName,
	})
	if err != nil {
		return cli.Exit(cli.ExitUsage, err)
	}
	fmt.Fprintln(env.Stdout, srv.URL())
	if f, ok := env.Stdout.(*os.File); ok {
		f.Sync()
	}
	<-sigs
	srv.Shutdown()
	return nil
}
