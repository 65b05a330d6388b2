// Package location holds the command-line options that say where queues live:
// a local directory (pkg/queue/local, the default) or a NATS JetStream
// server such as pqueued (pkg/queue/natsq) and the credentials for it
// (pkg/natsauth, shared with pshm).
// pqueue and ppool embed Flags, so both take the same --dir, --url,
// --token, ... and read the same environment variables.
//
// The server's client is not imported here but passed in (a Dialer), so
// that pqueue, run once per item, need not link it (the rule is in
// docs/conventions.md).
package location

import (
	"errors"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/natsauth"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/local"
	"github.com/pkit-sh/pkit/pkg/rundir"
)

// Dialer opens the queues of the server at url (natsq.Open). Errors that
// a retry will not fix wrap queue.ErrRefused or queue.ErrTLS.
type Dialer func(url string, auth queue.Auth) (queue.Backend, error)

// Flags selects a queue backend. Embed it in a kong grammar; each flag
// defaults to its environment variable.
type Flags struct {
	Dir             string `name:"dir" env:"PQUEUE_DIR" placeholder:"DIR" group:"Queue location" help:"Directory of the local queues (default: the pkit runtime directory's queues/; use a persistent one such as /var/lib/NAME to survive reboots)."`
	URL             string `name:"url" env:"PQUEUE_URL" placeholder:"URL" group:"Queue location" help:"Use the queues of the NATS JetStream server at URL (nats://HOST:PORT, e.g. a pqueued) instead of a local directory."`
	natsauth.Server `embed:"" envprefix:"PQUEUE_" group:"Queue location"`
}

// Remote reports whether the queues are on a server.
func (f *Flags) Remote() bool { return f.URL != "" }

// Auth returns the NATS credentials of f, or a usage error for a
// combination that cannot work.
func (f *Flags) Auth() (queue.Auth, error) { return f.Server.Auth("PQUEUE_") }

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
		d, err := rundir.Subdir("queues")
		if err != nil {
			return nil, err
		}
		dir = d
	} else if err := rundir.Safe(dir); err != nil {
		return nil, err
	}
	return local.New(dir, local.Options{}), nil
}
