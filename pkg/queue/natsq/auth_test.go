package natsq_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/natsserver/natstest"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
)

func TestTokenRefused(t *testing.T) {
	srv := natstest.Start(t, natsserver.Config{Token: "right"})
	if _, err := natsq.Dial(srv.URL(), queue.Auth{Token: "wrong"}); err == nil || !strings.Contains(err.Error(), "credentials refused") {
		t.Fatalf("Dial(wrong token) = %v, want credentials refused", err)
	}
	b, err := natsq.Dial(srv.URL(), queue.Auth{Token: "right"})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}

// TestCredsRefused: a NATS credentials file (user JWT and NKey seed) that
// the server does not know is refused as such; one that is not a
// credentials file is an error that says so.
func TestCredsRefused(t *testing.T) {
	dir := t.TempDir()
	account, _ := nkeys.CreateAccount()
	user, _ := nkeys.CreateUser()
	userPub, _ := user.PublicKey()
	userJWT, err := jwt.NewUserClaims(userPub).Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "user.creds")
	if err := os.WriteFile(file, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := natstest.Start(t, natsserver.Config{Token: "right"})
	if _, err := natsq.Dial(srv.URL(), queue.Auth{Creds: file}); !errors.Is(err, queue.ErrRefused) || !strings.Contains(err.Error(), "credentials refused") {
		t.Errorf("Dial(unknown creds) = %v, want credentials refused", err)
	}
	junk := filepath.Join(dir, "junk.creds")
	os.WriteFile(junk, []byte("not a creds file\n"), 0o600)
	if _, err := natsq.Dial(srv.URL(), queue.Auth{Creds: junk}); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("Dial(junk creds file) = %v, want an error naming the file", err)
	}
}

func TestTLS(t *testing.T) {
	pki := natstest.NewPKI(t)
	srv := natstest.Start(t, natsserver.Config{Token: "tok", TLSCert: pki.ServerCert, TLSKey: pki.ServerKey})
	caFile := pki.CA

	if _, err := natsq.Dial(srv.URL(), queue.Auth{Token: "tok"}); err == nil {
		t.Fatal("Dial without the CA succeeded against a server with an unknown certificate")
	}
	b, err := natsq.Dial(srv.URL(), queue.Auth{Token: "tok", TLSCA: caFile})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	q, err := b.Ensure(ctx, "tls", queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Put(ctx, [][]byte{[]byte("secret")}, false); err != nil {
		t.Fatal(err)
	}
	items, err := q.Get(ctx, 1, queue.GetOptions{NoWait: true})
	if err != nil || string(items[0].Data) != "secret" {
		t.Fatalf("Get over TLS = %v, %v", items, err)
	}
}
