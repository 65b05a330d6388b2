package natsq_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
)

func TestTokenRefused(t *testing.T) {
	srv := startServer(t, natsserver.Config{Token: "right"})
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
	srv := startServer(t, natsserver.Config{Token: "right"})
	if _, err := natsq.Dial(srv.URL(), queue.Auth{Creds: file}); !errors.Is(err, queue.ErrRefused) || !strings.Contains(err.Error(), "credentials refused") {
		t.Errorf("Dial(unknown creds) = %v, want credentials refused", err)
	}
	junk := filepath.Join(dir, "junk.creds")
	os.WriteFile(junk, []byte("not a creds file\n"), 0o600)
	if _, err := natsq.Dial(srv.URL(), queue.Auth{Creds: junk}); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("Dial(junk creds file) = %v, want an error naming the file", err)
	}
}

// writePEM writes a DER block as PEM to dir/name and returns the path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pkit test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	srv := startServer(t, natsserver.Config{Token: "tok",
		TLSCert: writePEM(t, dir, "cert.pem", "CERTIFICATE", der),
		TLSKey:  writePEM(t, dir, "key.pem", "EC PRIVATE KEY", keyDER)})
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)

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
