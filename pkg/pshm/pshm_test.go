package pshm

import (
	"strconv"
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
		{"c[2:1]", 3, 2, 1, false}, // empty
		{"c[0:4]", 3, 0, 3, false},
		{"c[1:99]", 3, 1, 3, false},
		{"c[-99:1]", 3, 0, 1, false},
		{"c[5:]", 3, 3, 3, false},
		{"c[x:]", 3, 0, 0, true},
		{"c[::0]", 3, 0, 0, true},
		{"c[1:2:3:4]", 3, 0, 0, true},
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

// TestSlices: the elements a slice selects are those of Python's
// list(range(n))[slice].
func TestSlices(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // indexes of an array of 10
	}{
		{"a[::2]", "0 2 4 6 8"},
		{"a[1::2]", "1 3 5 7 9"},
		{"a[1:99]", "1 2 3 4 5 6 7 8 9"},
		{"a[::-1]", "9 8 7 6 5 4 3 2 1 0"},
		{"a[::-3]", "9 6 3 0"},
		{"a[-2::-1]", "8 7 6 5 4 3 2 1 0"},
		{"a[8:2:-2]", "8 6 4"},
		{"a[99:0:-4]", "9 5 1"},
		{"a[:-99:-1]", "9 8 7 6 5 4 3 2 1 0"},
		{"a[3:3]", ""},
		{"a[5:2]", ""},
		{"a[2:5:-1]", ""},
		{"a[-3:]", "7 8 9"},
		{"a[:]", "0 1 2 3 4 5 6 7 8 9"},
		{"a[4]", "4"},
	} {
		r, err := parseRef(tc.in)
		if err == nil {
			err = r.resolve(10)
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		var got []string
		for i, ok := r.first(); ok; i, ok = r.next(i) {
			got = append(got, strconv.Itoa(i))
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s of 10: %q, want %q", tc.in, g, tc.want)
		}
	}
}
