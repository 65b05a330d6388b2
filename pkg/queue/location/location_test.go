package location_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/natsauth"
	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/natsserver/natstest"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/local"
	"github.com/pkit-sh/pkit/pkg/queue/location"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
)

func startServer(t *testing.T, cfg natsserver.Config) string { return natstest.Start(t, cfg).URL() }

// exitCode is the status cli.Report would give err.
func exitCode(err error) int {
	var ee *cli.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return cli.ExitFail
}

// roundTrip puts and takes one item through the backend f selects.
func roundTrip(t *testing.T, f location.Flags) {
	t.Helper()
	b, err := f.Backend(natsq.Open)
	if err != nil {
		t.Fatalf("Backend(%+v): %v", f, err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := b.Ensure(ctx, "q", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Put(ctx, [][]byte{[]byte("x")}, false); err != nil {
		t.Fatal(err)
	}
	items, err := q.Get(ctx, 1, queue.GetOptions{})
	if err != nil || string(items[0].Data) != "x" {
		t.Fatalf("Get = %v, %v", items, err)
	}
}

func TestLocalByDefault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queues")
	f := location.Flags{Dir: dir, Server: natsauth.Server{Token: "ignored without --url"}}
	b, err := f.Backend(nil) // local queues need no Dialer
	if err != nil {
		t.Fatal(err)
	}
	if lb, ok := b.(*local.Backend); !ok || lb.Dir() != dir {
		t.Fatalf("Backend() = %T, want the local directory %s", b, dir)
	}
	roundTrip(t, f)
}

func TestCredentials(t *testing.T) {
	tokURL := startServer(t, natsserver.Config{Token: "right"})
	userURL := startServer(t, natsserver.Config{User: "u", Password: "p"})
	roundTrip(t, location.Flags{URL: tokURL, Server: natsauth.Server{Token: "right"}})
	roundTrip(t, location.Flags{URL: userURL, Server: natsauth.Server{User: "u", Password: "p"}})
	for _, tc := range []struct {
		name string
		f    location.Flags
		want string
	}{
		{"wrong token", location.Flags{URL: tokURL, Server: natsauth.Server{Token: "wrong"}}, "credentials refused"},
		{"no token", location.Flags{URL: tokURL}, "credentials refused"},
		{"wrong password", location.Flags{URL: userURL, Server: natsauth.Server{User: "u", Password: "x"}}, "credentials refused"},
		{"user without password", location.Flags{URL: userURL, Server: natsauth.Server{User: "u"}}, "--user needs --password"},
		{"token and user", location.Flags{URL: userURL, Server: natsauth.Server{User: "u", Password: "p", Token: "t"}}, "use one of"},
		{"missing creds file", location.Flags{URL: userURL, Server: natsauth.Server{Creds: "/nonexistent.creds"}}, "--creds"},
		{"cert without key", location.Flags{URL: tokURL, Server: natsauth.Server{Token: "right", TLSCert: "c.pem"}}, "--tls-cert and --tls-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.f.Backend(natsq.Open)
			if err == nil {
				b.Close()
				t.Fatal("Backend succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || exitCode(err) != cli.ExitUsage {
				t.Fatalf("Backend: %v (exit %d), want %q and exit 2", err, exitCode(err), tc.want)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "nats://" + l.Addr().String()
	l.Close() // nothing listens there now
	f := location.Flags{URL: url}
	b, err := f.Backend(natsq.Open)
	if err == nil {
		b.Close()
		t.Fatal("Backend succeeded with no server")
	}
	if exitCode(err) != cli.ExitFail || errors.Is(err, queue.ErrRefused) {
		t.Fatalf("Backend: %v (exit %d), want a plain failure (exit 1)", err, exitCode(err))
	}
}

// TestTLSFlags: --tls-ca verifies the server, --tls-cert/--tls-key is the
// client certificate a server with a CA requires; without them the error
// says TLS and the status is 2.
func TestTLSFlags(t *testing.T) {
	pki := natstest.NewPKI(t)
	caFile, cliCert, cliKeyFile := pki.CA, pki.ClientCert, pki.ClientKey
	url := startServer(t, natsserver.Config{
		TLSCert: pki.ServerCert, TLSKey: pki.ServerKey,
		TLSCA: caFile, // clients need a certificate signed by the CA
	})

	roundTrip(t, location.Flags{URL: url, Server: natsauth.Server{TLSCA: caFile, TLSCert: cliCert, TLSKey: cliKeyFile}})
	for name, f := range map[string]location.Flags{
		"no CA":          {URL: url, Server: natsauth.Server{TLSCert: cliCert, TLSKey: cliKeyFile}},
		"no client cert": {URL: url, Server: natsauth.Server{TLSCA: caFile}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := f.Backend(natsq.Open)
			if err == nil {
				b.Close()
				t.Fatal("Backend succeeded")
			}
			if !errors.Is(err, queue.ErrTLS) || exitCode(err) != cli.ExitUsage {
				t.Fatalf("Backend: %v (exit %d), want %v and exit 2", err, exitCode(err), queue.ErrTLS)
			}
		})
	}
}
