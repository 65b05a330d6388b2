package pspawn

import (
	"testing"
	"time"
)

func TestParseAt(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	now := time.Date(2026, 3, 4, 10, 30, 0, 0, loc)
	for _, c := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "11:00", want: time.Date(2026, 3, 4, 11, 0, 0, 0, loc)},
		{in: "10:30", want: time.Date(2026, 3, 5, 10, 30, 0, 0, loc)}, // now: tomorrow
		{in: "09:15", want: time.Date(2026, 3, 5, 9, 15, 0, 0, loc)},
		{in: "2030-01-02T15:04:05Z", want: time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)},
		{in: "25:00", bad: true},
		{in: "tomorrow", bad: true},
	} {
		got, err := parseAt(c.in, now)
		if (err != nil) != c.bad || !c.bad && !got.Equal(c.want) {
			t.Errorf("parseAt(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}
