package main

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/pqueue"
)

var pqueueSuite = Suite{
	Name:  "pqueue",
	About: "per-call put/get against a hello-world Go binary and redis-cli; 1M-item streams against a FIFO and redis-benchmark; ack-mode throughput",
	Run:   benchPqueue,
}

// pqueueCalls is how many calls a per-call case makes in one shell loop.
const pqueueCalls = 100

// pqueueStream is the item count of the streaming cases (the goal:
// ≥ 200k items/s each way).
const pqueueStream = 1000000

func benchPqueue(b *Bench) error {
	dir := b.TempDir()
	bin := filepath.Join(dir, "bin")
	// Both binaries are built as goreleaser ships them (static,
	// CGO_ENABLED=0, -s -w): a cgo-linked binary starts ~0.5 ms slower,
	// and the comparison is of start-up cost.
	if err := buildStatic(bin, "./cmd/pqueue"); err != nil {
		return err
	}
	if _, err := b.Hello(); err != nil {
		return err
	}
	if err := buildCLIFloors(dir, bin); err != nil {
		return err
	}
	os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	os.Setenv("PQUEUE_DIR", filepath.Join(dir, "queues"))

	port, stop, err := startRedis(b, dir)
	if err != nil {
		return err
	}
	defer stop()
	rc := "redis-cli -p " + port

	// Fill the lease queue for every run of its case (plus the warm-up).
	fill := fmt.Sprintf("pqueue create --durable durable && seq %d | pqueue put leased", pqueueCalls*(b.Runs+1))
	if out, err := exec.Command("sh", "-c", fill).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", fill, err, out)
	}
	loop := func(body string) string {
		return fmt.Sprintf("i=0; while [ $i -lt %d ]; do %s; i=$((i+1)); done", pqueueCalls, body)
	}
	fmt.Printf("  per call = median / %d\n", pqueueCalls)
	const floor, put, get, lpush, rpop = "floor: builds pqueue's kong model, exits", "pqueue put", "pqueue get", "redis-cli LPUSH", "redis-cli RPOP"
	redis := []string{"redis-cli"}
	if port == "" { // no redis-server: skipped as not installed
		redis = append(redis, "redis-server")
	}
	m, err := b.Measure(fmt.Sprintf("per call: %d calls from a shell loop", pqueueCalls), 0,
		Case{Name: "hello world (Go, static)", Shell: loop("hello >/dev/null"), Base: true},
		Case{Name: "floor: imports kong, exits", Shell: loop("kongfloor >/dev/null")},
		Case{Name: "floor: links kong's parser, exits", Shell: loop("clifloor >/dev/null")},
		Case{Name: floor, Shell: loop("pqueuefloor >/dev/null")},
		Case{Name: put, Shell: loop(`pqueue put calls "item $i"`)},
		Case{Name: "pqueue put, --durable queue", Shell: loop(`pqueue put durable "item $i"`)},
		Case{Name: get, Shell: loop("pqueue get calls >/dev/null")},
		Case{Name: "pqueue get --lease + done", Shell: loop(`l=$(pqueue get --lease 1m leased); pqueue done leased "${l%%	*}"`)},
		Case{Name: lpush, Shell: loop(rc + ` LPUSH calls "item $i" >/dev/null`), Needs: redis},
		Case{Name: rpop, Shell: loop(rc + " RPOP calls >/dev/null"), Needs: redis},
	)
	if err != nil {
		return err
	}
	// The goals: the tool's own work at most 15% of a start of its
	// kong model, and no slower than redis-cli against a local server.
	b.Targets(m,
		Target{Case: put, Anchor: floor, Max: 1.15},
		Target{Case: get, Anchor: floor, Max: 1.15},
		Target{Case: put, Anchor: lpush, Max: 1},
		Target{Case: get, Anchor: rpop, Max: 1},
	)

	rows, err := pqueueStreams(b, port)
	if err != nil {
		return err
	}
	b.Report(fmt.Sprintf("streaming %d items (items/s, higher is better)", pqueueStream), rows...)
	return nil
}

// pqueueStreams measures throughput: each command's items over its wall time.
func pqueueStreams(b *Bench, port string) ([]Row, error) {
	runs := max(3, b.Runs/3)
	n := pqueueStream
	cases := []struct {
		name, shell, note string
		items             int
		needs             string
	}{
		{"FIFO: seq | FIFO | wc -l", fmt.Sprintf("rm -f f; mkfifo f; seq %d > f & wc -l < f > /dev/null; wait; rm f", n), "no persistence, no acks", n, ""},
		{"pqueue put (stdin lines)", fmt.Sprintf("seq %d | pqueue put stream", n), "group commit: survives process crashes", n, ""},
		{"pqueue get -n 1M", fmt.Sprintf("pqueue get -n %d stream > /dev/null", n), "auto-ack", n, ""},
		{"pqueue put, --durable queue", fmt.Sprintf("seq %d | pqueue put durable", n), "fsync per batch: survives OS crashes", n, ""},
		{"pqueue get -n 1M, --durable queue", fmt.Sprintf("pqueue get -n %d durable > /dev/null", n), "fsync per batch", n, ""},
		{"ack mode: put; get --lease -n 100k | done", "seq 100000 | pqueue put acks && pqueue get --lease 10m -n 100000 acks | pqueue done acks", "put + lease + done, 3 processes", 100000, ""},
		{"ack mode: get -x -n 500 -- true", "seq 500 | pqueue put work && pqueue get -x -n 500 work -- true", "a process per item", 500, ""},
	}
	rows := make([]Row, len(cases))
	for i, c := range cases {
		rows[i] = Row{Name: c.name, Unit: "items/s", Note: c.note}
	}
	for r := 0; r < runs; r++ {
		for i, c := range cases {
			start := time.Now()
			if out, err := exec.Command("sh", "-c", c.shell).CombinedOutput(); err != nil {
				return nil, fmt.Errorf("%s: %v: %s", c.shell, err, out)
			}
			rows[i].Samples = append(rows[i].Samples, float64(c.items)/time.Since(start).Seconds())
		}
	}
	if port == "" {
		return append(rows, Row{Name: "redis-benchmark", Note: "skipped: redis-server not installed"}), nil
	}
	for _, clients := range []string{"50", "1"} {
		lpush := Row{Name: "redis-benchmark LPUSH -c " + clients, Unit: "items/s", Note: "loopback, --save ''"}
		rpop := Row{Name: "redis-benchmark RPOP -c " + clients, Unit: "items/s", Note: "loopback, --save ''"}
		for r := 0; r < runs; r++ {
			rps, err := redisBenchmark(port, clients)
			if err != nil {
				return nil, err
			}
			lpush.Samples = append(lpush.Samples, rps["LPUSH"])
			rpop.Samples = append(rpop.Samples, rps["RPOP"])
		}
		rows = append(rows, lpush, rpop)
	}
	return rows, nil
}

// redisBenchmark runs redis-benchmark's LPUSH and RPOP tests and returns
// their requests per second.
func redisBenchmark(port, clients string) (map[string]float64, error) {
	out, err := exec.Command("redis-benchmark", "-h", "127.0.0.1", "-p", port, "-c", clients,
		"-n", "200000", "-t", "lpush,rpop", "--csv").Output()
	if err != nil {
		return nil, fmt.Errorf("redis-benchmark: %v", err)
	}
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("redis-benchmark output: %v", err)
	}
	rps := map[string]float64{}
	for _, rec := range recs {
		if len(rec) >= 2 {
			if v, err := strconv.ParseFloat(rec[1], 64); err == nil {
				rps[strings.Fields(rec[0])[0]] = v
			}
		}
	}
	return rps, nil
}

// startRedis starts a private redis-server on a free loopback port, without
// persistence; stop kills it by PID. No redis-server: port is "".
func startRedis(b *Bench, dir string) (port string, stop func(), err error) {
	if !b.Have("redis-server", "redis-cli") {
		return "", func() {}, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	for i := 0; i < 100; i++ {
		if exec.Command("redis-cli", "-p", port, "PING").Run() == nil {
			return port, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("redis-server on port %s did not answer", port)
}

var pqueueExecSuite = Suite{
	Name:  "pqueueexec",
	About: "get -x per call and per item, against a hello-world Go binary, sh -c true and (" + beforeEnv + "=REV) the pqueue of git revision REV",
	Run:   benchPqueueExec,
}

// benchPqueueExec compares get -x of this tree with that of $PKIT_BENCH_BEFORE:
// one call per item from a shell loop, and one call for 100 items.
func benchPqueueExec(b *Bench) error {
	dir := b.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := buildStatic(bin, "./cmd/pqueue"); err != nil {
		return err
	}
	if _, err := b.Hello(); err != nil {
		return err
	}
	os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	os.Setenv("PQUEUE_DIR", filepath.Join(dir, "queues"))
	before, rev, err := b.Before("pqueue")
	if err != nil {
		return err
	}
	n := pqueueCalls * (b.Runs + 1)
	for _, q := range []string{"xnow", "xbefore", "xnown", "xbeforen"} {
		fill := fmt.Sprintf("seq %d | pqueue put %s", n, q)
		if out, err := exec.Command("sh", "-c", fill).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", fill, err, out)
		}
	}
	loop := func(body string) string {
		return fmt.Sprintf("i=0; while [ $i -lt %d ]; do %s; i=$((i+1)); done", pqueueCalls, body)
	}
	return b.Compare(fmt.Sprintf("get -x, per call and per item: %d items (before = %s)", pqueueCalls, cmp.Or(rev, "not asked for")), 0,
		Case{Name: "hello world (Go, static)", Shell: loop("hello >/dev/null"), Base: true},
		Case{Name: "sh -c true (a command's start)", Shell: loop("sh -c true")},
		Case{Name: "before: pqueue get -x q -- true", Shell: loop("pqueue-before get -x xbefore -- true"), Needs: []string{before}},
		Case{Name: "now: pqueue get -x q -- true", Shell: loop("pqueue get -x xnow -- true")},
		Case{Name: fmt.Sprintf("before: pqueue get -x -n %d q -- true", pqueueCalls), Shell: fmt.Sprintf("pqueue-before get -x -n %d xbeforen -- true", pqueueCalls), Needs: []string{before}},
		Case{Name: fmt.Sprintf("now: pqueue get -x -n %d q -- true", pqueueCalls), Shell: fmt.Sprintf("pqueue get -x -n %d xnown -- true", pqueueCalls)},
	)
}

// buildStatic builds pkg into dir as goreleaser does.
func buildStatic(dir, pkg string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", dir+"/", pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v: %s", pkg, err, out)
	}
	return nil
}

// The start-up floor of every pkit tool, in two layers: a program that
// only imports kong (its package initialisation runs: it compiles a
// regexp) and one that links pkg/cli's parser without running it (kong
// looks methods up by name through reflect, so the linker keeps every
// exported method of every reachable type, and the binary doubles). Both
// exit at once.
var cliFloors = map[string]string{
	"kongfloor": "package main\n\nimport _ \"github.com/alecthomas/kong\"\n\nfunc main() {}\n",
	"clifloor": "package main\n\nimport (\n\t\"os\"\n\n\t\"github.com/pkit-sh/pkit/pkg/cli\"\n)\n\n" +
		"func main() {\n\tif len(os.Args) > 99 {\n\t\tcli.Run(nil, nil)\n\t}\n}\n",
}

// buildCLIFloors builds the cliFloors programs into bin. They are
// compiled from temporary files overlaid into the module, so the
// repository is not touched.
func buildCLIFloors(dir, bin string) error {
	for name, text := range cliFloors {
		if err := buildInModule(dir, bin, name, text); err != nil {
			return err
		}
	}
	return buildModelFloor(dir, bin, "pqueuefloor", pqueue.Command())
}
