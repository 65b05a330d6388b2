package cmd_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Packages that cost startup time or size; only the binaries that need them
// may link them (gopsutil: ~8x slower than /proc; nats-server: ~3 ms per
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

// lean maps the binaries that guard their startup cost to the packages
// they must not link.
var lean = map[string][]string{
	"pjoin":       {gopsutil, natsServer, natsClient, completion, predictors},
	"ppool":       {gopsutil, completion, predictors},
	"pqueue":      {gopsutil, natsServer, natsClient, completion, predictors},
	"pqueue-nats": {gopsutil, natsServer, completion, predictors}, // pqueue with --url
	"pqueued":     {gopsutil, completion, predictors},
	"pshm":        {gopsutil, natsServer, natsClient, completion, predictors},
	"pshm-nats":   {gopsutil, natsServer, completion, predictors}, // pshm with --url
	"pspawn":      {gopsutil, natsServer, natsClient, completion, predictors},
	"ptree":       {gopsutil, natsServer, natsClient, completion, predictors},
}

// TestImportSets guards the lean binaries' startup cost.
func TestImportSets(t *testing.T) {
	for name, heavy := range lean {
		t.Run(name, func(t *testing.T) {
			if _, err := os.Stat(name); err != nil {
				t.Skipf("no cmd/%s yet", name)
			}
			out, err := exec.Command("go", "list", "-deps", "./"+name).CombinedOutput()
			if err != nil {
				t.Fatalf("go list ./%s: %v: %s", name, err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				for _, h := range heavy {
					if strings.HasPrefix(dep, h) {
						t.Errorf("%s imports %s", name, dep)
					}
				}
			}
		})
	}
}
