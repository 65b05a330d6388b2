package cli

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/alecthomas/kong"
)

// Duration is a flag value that accepts plain seconds ("1.5") as well as Go
// durations ("200ms", "2m"). It is never negative.
type Duration time.Duration

// ParseDuration parses s as plain seconds or a Go duration.
func ParseDuration(s string) (time.Duration, error) {
	var d time.Duration
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(secs) || math.Abs(secs) > float64(math.MaxInt64)/float64(time.Second) {
			return 0, fmt.Errorf("invalid duration %q: out of range", s)
		}
		d = time.Duration(secs * float64(time.Second))
	} else {
		var perr error
		if d, perr = time.ParseDuration(s); perr != nil {
			return 0, fmt.Errorf("invalid duration %q (want seconds like 1.5, or 200ms, 2m)", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid duration %q: negative", s)
	}
	return d, nil
}

// Decode implements kong.MapperValue.
func (d *Duration) Decode(ctx *kong.DecodeContext) error {
	var s string
	if err := ctx.Scan.PopValueInto("duration", &s); err != nil {
		return err
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }
