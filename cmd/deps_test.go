package cmd_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// heavy are packages that cost startup time or size; only the binaries that
// need them may link them (gopsutil: ~8x slower than /proc; nats-server: ~3 ms
// per start).
var heavy = []string{"github.com/shirou/gopsutil", "github.com/nats-io/nats-server"}

// lean lists the binaries that must link none of the heavy packages.
var lean = []string{"pjoin", "pqueue", "pshm", "pspawn"}

// TestImportSets guards the lean binaries' startup cost.
func TestImportSets(t *testing.T) {
	for _, name := range lean {
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
