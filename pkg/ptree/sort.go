package ptree

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/alecthomas/kong"
)

// sortList is --sort's value. It may start with '-' ("--sort -%cpu", as
// ps(1) takes it), which kong would read as a flag: a token that parses as
// a list of fields is taken as the value.
type sortList string

// Decode implements kong.MapperValue.
func (l *sortList) Decode(ctx *kong.DecodeContext) error {
	if t := ctx.Scan.Peek(); t.Type == kong.UntypedToken {
		if s, ok := t.Value.(string); ok && strings.HasPrefix(s, "-") {
			_, err := parseSort(s)
			if err == nil || len(s) > 2 && s[1] != '-' {
				ctx.Scan.Pop()
				*l = sortList(s)
				return err
			}
		}
	}
	var s string
	if err := ctx.Scan.PopValueInto("sort", &s); err != nil {
		return err
	}
	*l = sortList(s)
	return nil
}

// sortKey is one field of --sort.
type sortKey struct {
	f    field
	desc bool
}

// parseSort parses "-%cpu,rss": fields, each with '-' for descending.
func parseSort(list string) ([]sortKey, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var keys []sortKey
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		k := sortKey{}
		if rest, ok := strings.CutPrefix(name, "-"); ok {
			name, k.desc = rest, true
		} else {
			name = strings.TrimPrefix(name, "+")
		}
		f, ok := lookupField(name)
		if !ok {
			return nil, fmt.Errorf("unknown field %q in --sort (fields: %s)", name, fieldNames())
		}
		k.f = f
		keys = append(keys, k)
	}
	return keys, nil
}

// compare orders a and b by k: numerically where the field is a number,
// else by its text; unknown values ("-") come last either way.
func (k sortKey) compare(t *table, a, b *node) int {
	var r int
	if k.f.num != nil {
		x, okx := k.f.num(t, a)
		y, oky := k.f.num(t, b)
		switch {
		case !okx || !oky:
			return cmp.Compare(boolRank(okx), boolRank(oky))
		}
		r = cmp.Compare(x, y)
	} else {
		x, y := k.f.text(t, a), k.f.text(t, b)
		if x == "-" || y == "-" {
			return cmp.Compare(boolRank(x != "-"), boolRank(y != "-"))
		}
		r = strings.Compare(x, y)
	}
	if k.desc {
		return -r
	}
	return r
}

// boolRank puts known values (true) before unknown ones.
func boolRank(known bool) int {
	if known {
		return 0
	}
	return 1
}
