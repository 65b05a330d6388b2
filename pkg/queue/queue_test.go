package queue

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		deliveries int
		want       time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second},
		{9, 256 * time.Second}, {10, 5 * time.Minute}, {64, 5 * time.Minute}, {1 << 30, 5 * time.Minute},
	} {
		if got := Backoff(tc.deliveries); got != tc.want {
			t.Errorf("Backoff(%d) = %v, want %v", tc.deliveries, got, tc.want)
		}
	}
}
