package pshm

import "testing"

// Local calls are not handed off; the environment decides with no --url.
func TestHandOffLocal(t *testing.T) {
	t.Setenv("PSHM_URL", "")
	for _, args := range [][]string{{"add", "c", "1"}, {"lock", "l", "--", "prog", "--url", "x"}} {
		if _, ok := handOff(args); ok {
			t.Errorf("%q handed off", args)
		}
	}
}
