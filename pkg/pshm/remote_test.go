package pshm

import (
	"strings"
	"testing"
)

// The options of a server may come before the command, where negative
// numbers are still let through.
func TestNegativeNumbersServerOptions(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"--url nats://h:1 add c -1", "--url nats://h:1 add -- c -1"},
		{"--url=nats://h:1 --ttl 2s add c -1", "--url=nats://h:1 --ttl 2s add -- c -1"},
		{"add --url nats://h:1 c -1", "add --url nats://h:1 -- c -1"},
		{"--token t lock l -- sh -c -1", "--token t lock l -- sh -c -1"},
		{"--url nats://h:1 get c", "--url nats://h:1 get c"},
	} {
		if got := strings.Join(negativeNumbers(strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("%q → %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Local calls are not handed off; the environment decides with no --url.
func TestHandOffLocal(t *testing.T) {
	t.Setenv("PSHM_URL", "")
	for _, args := range [][]string{{"add", "c", "1"}, {"lock", "l", "--", "prog", "--url", "x"}} {
		if _, ok := handOff(args); ok {
			t.Errorf("%q handed off", args)
		}
	}
}
