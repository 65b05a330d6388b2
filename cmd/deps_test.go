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
		"ppool":         {natsServer, natsClient}, // --queue on a server
		"pqueue-nats":   {natsClient},             // pqueue with --url
		"pshm-nats":     {natsClient},             // pshm with --url
		"pqueued":       {natsServer, natsClient},
		"pkit-complete": {gopsutil, natsServer, natsClient, completion, predictors}, // links every grammar
		"ptree":         {gopsutil},                                                 // %mem's memory total; ports on darwin (Linux reads /proc)
	}
)

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
