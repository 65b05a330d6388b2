package cli

import (
	"fmt"
	"strings"
)

// MaxNameLen bounds the names of queues, shared-memory objects and jobs, so
// that derived names (NAME.dead, sem.NAME) still fit in NAME_MAX.
const MaxNameLen = 128

// ValidName checks a user-supplied name of the given kind ("queue", "job",
// "object"): 1–128 characters from [A-Za-z0-9._@+-], not starting with '.'
// or '-', no "..". Bad names are usage errors (exit status 2).
func ValidName(kind, name string) error {
	switch {
	case name == "":
		return Usagef("invalid %s name: empty", kind)
	case len(name) > MaxNameLen:
		return Usagef("invalid %s name %q: longer than %d bytes", kind, name, MaxNameLen)
	case strings.Contains(name, ".."):
		return Usagef("invalid %s name %q: contains \"..\"", kind, name)
	case name[0] == '.' || name[0] == '-':
		return Usagef("invalid %s name %q: must not start with %q", kind, name, name[:1])
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._@+-", r)) {
			return Usagef("invalid %s name %q: %s", kind, name, badRune(r))
		}
	}
	return nil
}

func badRune(r rune) string {
	if r == '/' {
		return "contains '/'"
	}
	return fmt.Sprintf("character %q not allowed (use letters, digits and ._@+-)", r)
}
