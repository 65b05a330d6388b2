package cmd_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Packages that cost startup time or size; only the binaries that need them
// may link them (gopsutil: ~8x slower than /proc for the table, so ptree
// links it only for the memory total of %mem, and for ports on darwin, and
// keeps its scan on pkg/proc, see docs/conventions.md; nats-server: ~3 ms per
// start; the nats.go client, with the net/http, crypto/tls, ... it pulls
// in: ~4.5 ms per start, as a local pqueue call took 14.5 ms with it and
// 9.9 ms without; the completion code, only pkit-complete's: ~0.6 ms).
const (
	gopsutil   = "github.com/shirou/gopsutil"
	natsServer = "github.com/nats-io/nats-server"
	natsClient = "github.com/nats-io/nats.go"
	completion = "github.com/jotaen/kong-completion"
	predictors = "github.com/posener/complete"
)

// heavy are all of them; allowed maps the binaries that need some of them
// to those. Every binary in tools is checked.
var (
	heavy   = []string{gopsutil, natsServer, natsClient, completion, predictors}
	allowed = map[string][]string{
		"ppool":         {natsClient}, // --queue on a server; one start per run
		"pqueue-nats":   {natsClient}, // pqueue with --url
		"pshm-nats":     {natsClient}, // pshm with --url
		"pqueued":       {natsServer, natsClient},
		"pkit-complete": {gopsutil, natsServer, natsClient, completion, predictors}, // links every grammar
		"ptree":         {gopsutil},                                                 // %mem's memory total; ports on darwin (Linux reads /proc)
	}
	// perCall are the tools that scripts run once per item, whose start-up
	// is paid on every call (bench/ measures it): they link no NATS client,
	// and one with a --url form hands those calls to its companion
	// NAME-nats, which does. A binary that starts once per run (ppool,
	// pqueued) links the client itself. See docs/conventions.md.
	perCall = []string{"pjoin", "pqueue", "pshm"}
)

// TestNatsClientRule checks the rule above against allowed and tools:
// no per-call tool may link the client, and every binary that links it is
// either a per-call tool's companion or not run per call.
func TestNatsClientRule(t *testing.T) {
	names := map[string]bool{}
	for _, tl := range tools {
		names[tl.name] = true
	}
	for _, p := range perCall {
		if !names[p] {
			t.Errorf("perCall names %s, which is not a binary", p)
		}
		if slices.Contains(allowed[p], natsClient) || slices.Contains(allowed[p], natsServer) {
			t.Errorf("%s is run per call and may not link NATS; hand --url calls to %s-nats", p, p)
		}
	}
	for _, tl := range tools {
		base, companion := strings.CutSuffix(tl.name, "-nats")
		switch {
		case companion && !slices.Contains(perCall, base):
			t.Errorf("%s is a companion of %s, which is not in perCall: link the client in %s itself", tl.name, base, base)
		case companion && !slices.Contains(allowed[tl.name], natsClient):
			t.Errorf("%s exists to link the NATS client, but allowed does not let it", tl.name)
		}
	}
}

// TestImportSets guards the binaries' startup cost.
func TestImportSets(t *testing.T) {
	for _, tl := range tools {
		t.Run(tl.name, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "./"+tl.name).CombinedOutput()
			if err != nil {
				t.Fatalf("go list ./%s: %v: %s", tl.name, err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, h := range heavy {
					if strings.HasPrefix(dep, h) && !slices.Contains(allowed[tl.name], h) {
						t.Errorf("%s imports %s", tl.name, dep)
					}
				}
			}
		})
	}
}
