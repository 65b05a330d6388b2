package natsq_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
