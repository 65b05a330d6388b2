package cmd_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/natsserver"
)

// pshmNats is a pqueued-like server and the environment of pshm calls
// against it (tools on PATH, PSHM_URL, a private PKIT_DIR).
type pshmNats struct {
	srv   *natsserver.Server
	cfg   natsserver.Config
	env   []string
	dir   string
	bin   string // the tools
	token string
}

func startPshmNats(t *testing.T) *pshmNats {
	t.Helper()
	p := &pshmNats{dir: t.TempDir(), token: "pshm-test"}
	p.cfg = natsserver.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Token: p.token}
	p.start(t)
	// Restarts listen where clients look for the server.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(p.srv.URL(), "nats://"))
	p.cfg.Listen = "127.0.0.1:" + port
	bin := toolBin(t)
	p.bin = bin
	p.env = append(os.Environ(), "PSHM_URL="+p.srv.URL(), "PSHM_TOKEN="+p.token,
		"PKIT_DIR="+filepath.Join(p.dir, ".pkit"), "PKIT_SHM_DIR="+p.dir,
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GORACE=atexit_sleep_ms=0", "NO_COLOR=1")
	t.Cleanup(func() {
		if p.srv != nil {
			p.srv.Shutdown()
		}
	})
	return p
}

func (p *pshmNats) start(t *testing.T) {
	t.Helper()
	srv, err := natsserver.Start(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.srv = srv
}

func (p *pshmNats) stop() {
	p.srv.Shutdown()
	p.srv = nil
}

// cmd is argv run with p's environment, in a process group of its own so
// that a signal reaches it alone. A tool is the test's, whatever the PATH.
func (p *pshmNats) cmd(argv ...string) *exec.Cmd {
	if _, err := os.Stat(filepath.Join(p.bin, argv[0])); err == nil {
		argv[0] = filepath.Join(p.bin, argv[0])
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Dir, c.Env = p.dir, p.env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}

func (p *pshmNats) run(t *testing.T, script string) string {
	t.Helper()
	out, err := p.cmd("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", script, err, out)
	}
	return strings.TrimSpace(string(out))
}

// waitFor polls cond (a file appearing, a line written) until deadline.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: gave up after %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fileHas(path, s string) func() bool {
	return func() bool {
		b, _ := os.ReadFile(path)
		return bytes.Contains(b, []byte(s))
	}
}

// TestPshmNatsAdds: two processes each run pshm add N times on one
// counter over NATS; none is lost. N is PKIT_ADDS (the run is
// 2000, about 100 s here), else 300: every call is a process start and a
// connection.
func TestPshmNatsAdds(t *testing.T) {
	n := 300
	if v, err := strconv.Atoi(os.Getenv("PKIT_ADDS")); err == nil && v > 0 {
		n = v
	} else if testing.Short() {
		n = 50
	}
	p := startPshmNats(t)
	p.run(t, "pshm create n i64")
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			out, err := p.cmd("sh", "-c", fmt.Sprintf("i=0; while [ $i -lt %d ]; do pshm add -q n 1 || exit 1; i=$((i+1)); done", n)).CombinedOutput()
			if err != nil {
				t.Errorf("adds: %v: %s", err, out)
			}
		})
	}
	wg.Wait()
	if got := p.run(t, "pshm get n"); got != strconv.Itoa(2*n) {
		t.Fatalf("2 x %d adds gave %s", n, got)
	}
}

// TestPshmNatsKillHolder kills a lock holder with -9 while another process
// waits for the lock: the waiter gets it within the TTL plus a second,
// with a larger fencing token, and never while the first holder's command
// still ran (the watchdog stops it when pshm dies). Seeded trials, a few at
// a time (PKIT_TRIALS, PKIT_TRIAL_SEED).
func TestPshmNatsKillHolder(t *testing.T) {
	trials := 20
	if n, err := strconv.Atoi(os.Getenv("PKIT_TRIALS")); err == nil && n > 0 {
		trials = n
	} else if testing.Short() {
		trials = 2
	}
	const ttl = time.Second
	p := startPshmNats(t)
	rng := rand.New(rand.NewPCG(trialSeed(t), 0))
	delays := make([]time.Duration, trials)
	for i := range delays {
		delays[i] = time.Duration(rng.Int64N(int64(500 * time.Millisecond)))
	}
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range trials {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := pshmKillTrial(p, fmt.Sprintf("k%d", i), ttl, delays[i]); err != nil {
				t.Errorf("trial %d (delay %v): %v", i, delays[i], err)
			}
		})
	}
	wg.Wait()
}

func pshmKillTrial(p *pshmNats, name string, ttl time.Duration, delay time.Duration) error {
	events := filepath.Join(p.dir, name+".events")
	fenceA, fenceB := filepath.Join(p.dir, name+".a"), filepath.Join(p.dir, name+".b")
	lock := func(fence string, ticks int) *exec.Cmd {
		return p.cmd("pshm", "--ttl", ttl.String(), "lock", name, "--", "sh", "-c",
			fmt.Sprintf("echo $PSHM_FENCE > %s; %s", fence, holdScript(events, name, ticks)))
	}
	a := lock(fenceA, 3000)
	if err := a.Start(); err != nil {
		return err
	}
	defer syscall.Kill(-a.Process.Pid, syscall.SIGKILL)
	deadline := time.Now().Add(30 * time.Second)
	for !fileHas(events, " tick ")() {
		if time.Now().After(deadline) {
			return fmt.Errorf("first holder never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b := lock(fenceB, 2)
	var out bytes.Buffer
	b.Stdout, b.Stderr = &out, &out
	if err := b.Start(); err != nil {
		return err
	}
	defer syscall.Kill(-b.Process.Pid, syscall.SIGKILL)
	time.Sleep(delay) // the waiter is waiting, for a random while
	killed := time.Now()
	a.Process.Kill()
	a.Wait()
	done := make(chan error, 1)
	go func() { done <- b.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("second holder: %v: %s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		return fmt.Errorf("second holder still waiting 30 s after the kill")
	}
	if v := overlaps(events); v != nil {
		return fmt.Errorf("overlap: %v", v)
	}
	startB, err := sectionStart(events, name, b.Process.Pid)
	if err != nil {
		return err
	}
	if wait := startB.Sub(killed); wait > ttl+time.Second {
		return fmt.Errorf("second holder got the lock %v after the kill (TTL %v)", wait, ttl)
	}
	fa, _ := os.ReadFile(fenceA)
	fb, _ := os.ReadFile(fenceB)
	na, _ := strconv.ParseUint(strings.TrimSpace(string(fa)), 10, 64)
	nb, _ := strconv.ParseUint(strings.TrimSpace(string(fb)), 10, 64)
	if na == 0 || nb <= na {
		return fmt.Errorf("fence went from %q to %q", fa, fb)
	}
	return nil
}

// sectionStart is when the holdScript section of the shell that pshm
// (pid, which execs pshm-nats and then the command as its child) started:
// the first start line of key not written by the first holder.
func sectionStart(events, key string, pid int) (time.Time, error) {
	b, err := os.ReadFile(events)
	if err != nil {
		return time.Time{}, err
	}
	var starts []int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == key && f[2] == "start" {
			ns, _ := strconv.ParseInt(f[3], 10, 64)
			starts = append(starts, ns)
		}
	}
	if len(starts) < 2 {
		return time.Time{}, fmt.Errorf("pid %d: %d section starts in %s", pid, len(starts), b)
	}
	return time.Unix(0, starts[1]), nil
}

// TestPshmNatsCutOff stops the server under a lock holder: its command is
// terminated before the lease's TTL ends, pshm exits 125, and once the
// server is back a second holder gets the lock without overlapping it.
func TestPshmNatsCutOff(t *testing.T) {
	const ttl = 2 * time.Second
	p := startPshmNats(t)
	events := filepath.Join(p.dir, "events")
	lock := func(ticks int) *exec.Cmd {
		return p.cmd("pshm", "--ttl", ttl.String(), "lock", "cut", "--", "sh", "-c", holdScript(events, "cut", ticks))
	}
	a := lock(100000)
	var out bytes.Buffer
	a.Stdout, a.Stderr = &out, &out
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-a.Process.Pid, syscall.SIGKILL)
	waitFor(t, "holder's section", 30*time.Second, fileHas(events, " tick "))
	cut := time.Now()
	p.stop()
	done := make(chan error, 1)
	go func() { done <- a.Wait() }()
	select {
	case err := <-done:
		if a.ProcessState.ExitCode() != 125 || !strings.Contains(out.String(), "pshm-nats: lock cut: lease lost") {
			t.Fatalf("holder cut off: %v, want exit 125; output:\n%s", err, out.String())
		}
	case <-time.After(ttl + 10*time.Second):
		t.Fatalf("holder still running %v after the server stopped", ttl+10*time.Second)
	}
	last := lastEvent(t, events)
	if !last.Before(cut.Add(ttl)) {
		t.Fatalf("holder's command ran until %v after the cut, past its TTL %v", last.Sub(cut), ttl)
	}
	t.Logf("command stopped %v after the cut (TTL %v)", last.Sub(cut).Round(time.Millisecond), ttl)
	p.start(t)
	b := lock(2)
	var outB bytes.Buffer
	b.Stdout, b.Stderr = &outB, &outB
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-b.Process.Pid, syscall.SIGKILL)
	go func() { done <- b.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("second holder: %v: %s", err, outB.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("second holder still waiting after 30 s")
	}
	if v := overlaps(events); v != nil {
		t.Fatal(v)
	}
}

// lastEvent is the time of the last line of a holdScript events file.
func lastEvent(t *testing.T, events string) time.Time {
	t.Helper()
	b, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 4 {
			ns, _ := strconv.ParseInt(f[3], 10, 64)
			last = max(last, ns)
		}
	}
	return time.Unix(0, last)
}

// TestPshmNatsTLS: against a server that requires TLS and client
// certificates, pshm --url works with --tls-ca, --tls-cert and --tls-key
// (here from $PSHM_TLS_*) and is refused with exit 2 and a hint without
// them.
func TestPshmNatsTLS(t *testing.T) {
	dir := t.TempDir()
	newCert := func(tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		if ca == nil {
			ca, caKey = tmpl, key
		}
		der, err := x509.CreateCertificate(crand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte { b, _ := x509.MarshalECPrivateKey(k); return b }
	caDER, caKey := newCert(&x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pshm test CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	ca, _ := x509.ParseCertificate(caDER)
	srvDER, srvKey := newCert(&x509.Certificate{SerialNumber: big.NewInt(2), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	cliDER, cliKey := newCert(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "worker"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
	caFile := write("ca.pem", "CERTIFICATE", caDER)
	srv, err := natsserver.Start(natsserver.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir(),
		TLSCert: write("srv.pem", "CERTIFICATE", srvDER), TLSKey: write("srv-key.pem", "EC PRIVATE KEY", keyDER(srvKey)), TLSCA: caFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	p := &pshmNats{dir: dir, bin: toolBin(t)}
	base := append(os.Environ(), "PSHM_URL="+srv.URL(), "PKIT_DIR="+filepath.Join(dir, ".pkit"),
		"PATH="+p.bin+string(os.PathListSeparator)+os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0")
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"no CA", nil},
		{"no client certificate", []string{"PSHM_TLS_CA=" + caFile}},
	} {
		p.env = append(base, tc.env...)
		out, err := p.cmd("pshm", "get", "c").CombinedOutput()
		if code := exitOf(err); code != 2 || !strings.Contains(string(out), "check --tls-ca, --tls-cert and --tls-key") {
			t.Errorf("%s: exit %d, want 2 and a hint; output:\n%s", tc.name, code, out)
		}
	}
	p.env = append(base, "PSHM_TLS_CA="+caFile, "PSHM_TLS_CERT="+write("cli.pem", "CERTIFICATE", cliDER),
		"PSHM_TLS_KEY="+write("cli-key.pem", "EC PRIVATE KEY", keyDER(cliKey)))
	if out := p.run(t, "pshm create c i32 --init 41 && pshm add c 1"); out != "42" {
		t.Fatalf("over TLS: %q", out)
	}
}

// exitOf is the exit status of a finished exec.Cmd given its error.
func exitOf(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
