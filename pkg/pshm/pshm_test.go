package pshm

import (
	"strings"
	"testing"
)

func TestRefs(t *testing.T) {
	for _, tc := range []struct {
		in         string
		n          int
		start, end int
		bad        bool
	}{
		{"c", 3, 0, 3, false},
		{"c[0]", 3, 0, 1, false},
		{"c[2]", 3, 2, 3, false},
		{"c[-1]", 3, 2, 3, false},
		{"c[3]", 3, 0, 0, true},
		{"c[-4]", 3, 0, 0, true},
		{"c[1:]", 3, 1, 3, false},
		{"c[:2]", 3, 0, 2, false},
		{"c[:]", 3, 0, 3, false},
		{"c[-2:]", 3, 1, 3, false},
		{"c[2:1]", 3, 2, 2, false},
		{"c[0:4]", 3, 0, 0, true},
		{"c[]", 3, 0, 0, true},
		{"c[1", 3, 0, 0, true},
		{"c[x]", 3, 0, 0, true},
		{"a/b[0]", 3, 0, 0, true},
		{"[0]", 3, 0, 0, true},
	} {
		r, err := parseRef(tc.in)
		if err == nil {
			err = r.resolve(tc.n)
		}
		if (err != nil) != tc.bad || !tc.bad && (r.start != tc.start || r.end != tc.end) {
			t.Errorf("%s of %d: [%d:%d], %v; want [%d:%d], bad=%v", tc.in, tc.n, r.start, r.end, err, tc.start, tc.end, tc.bad)
		}
	}
}

func TestNegativeNumbers(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"add c -1", "add -- c -1"},
		{"add -q c -1", "add -q -- c -1"},
		{"set c[0] 1 -2 3", "set -- c[0] 1 -2 3"},
		{"create c i64 --init -5 --init -6", "create --init=-5 --init=-6 c i64"},
		{"wait c --until >= -3 -t 1", "wait --until >= -t 1 -- c -3"},
		{"wait c --until -3", "wait --until=-3 c"},
		{"add c -x", "add c -x"},
		{"add c -- -1", "add -- c -1"},
		{"lock l -- sh -c -1", "lock l -- sh -c -1"},
		{"add f -.5", "add -- f -.5"},
		{"add f -inf", "add -- f -inf"},
		{"get c --json", "get c --json"},
	} {
		if got := strings.Join(negativeNumbers(strings.Fields(tc.in)), " "); got != tc.want {
			t.Errorf("%q → %q, want %q", tc.in, got, tc.want)
		}
	}
}
