package pshm

import (
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
