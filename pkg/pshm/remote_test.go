package pshm

import (
	"testing"
	"time"
)

// Local calls are not handed off; the environment decides with no --url.
func TestHandOffLocal(t *testing.T) {
	t.Setenv("PSHM_URL", "")
	for _, args := range [][]string{{"add", "c", "1"}, {"lock", "l", "--", "prog", "--url", "x"}} {
		if _, ok := handOff(args); ok {
			t.Errorf("%q handed off", args)
		}
	}
}

// TestOpContext: an operation on this machine's objects has no deadline
// (nor its timer); one against a server is bounded by opTimeout.
func TestOpContext(t *testing.T) {
	ctx, cancel := (*Server)(nil).opContext()
	defer cancel()
	if d, ok := ctx.Deadline(); ok {
		t.Errorf("local operation: deadline %v, want none", d)
	}
	ctx, cancel = (&Server{}).opContext()
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > opTimeout {
		t.Errorf("operation against a server: deadline %v (%v), want within %v", d, ok, opTimeout)
	}
}
