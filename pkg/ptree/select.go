package ptree

import (
	"regexp"
	"strings"
)

// selection says which processes a run shows: the subtrees to look in, and
// the filters a process must pass to be a match.
type selection struct {
	rootPIDs []int          // explicit roots; none means the whole table
	states   string         // state letters to match; empty matches all
	uids     map[int]bool   // users to match; nil matches all
	name     *regexp.Regexp // name or command line; nil matches all
	kernel   bool           // show kernel threads
	self     int            // ptree's own PID, which -n never matches
	top      map[*node]bool // --top's processes; nil matches all
}

// filtered reports whether any filter is set, so that a tree shows only
// matches and their ancestors.
func (s *selection) filtered() bool {
	return s.states != "" || s.uids != nil || s.name != nil || s.top != nil
}

// match reports whether n passes every filter.
func (s *selection) match(t *table, n *node) bool {
	if s.top != nil && !s.top[n] {
		return false
	}
	if s.states != "" && !strings.ContainsRune(s.states, rune(n.State)) {
		return false
	}
	if s.uids != nil && !s.uids[t.UID(n)] {
		return false
	}
	if s.name != nil && (n.PID == s.self || !s.nameMatches(t, n)) {
		return false
	}
	return true
}

// nameMatches reports whether -n's pattern matches n's name or, failing
// that, its command line (read only then).
func (s *selection) nameMatches(t *table, n *node) bool {
	return s.name.MatchString(n.Comm) || s.name.MatchString(strings.Join(t.Argv(n), " "))
}

// roots returns the nodes the output starts from, and the explicit root
// PIDs that are not in the table.
func (s *selection) roots(t *table) (roots []*node, missing []int) {
	if len(s.rootPIDs) == 0 {
		for _, n := range t.roots() {
			if s.kernel || !n.IsKernelThread() {
				roots = append(roots, n)
			}
		}
		return roots, nil
	}
	for _, pid := range s.rootPIDs {
		if n := t.byPID[pid]; n != nil {
			roots = append(roots, n)
		} else {
			missing = append(missing, pid)
		}
	}
	return roots, missing
}

// visibleChildren returns n's children, without kernel threads unless they
// were asked for. A tree explicitly rooted in a kernel thread shows them.
func (s *selection) visibleChildren(n *node, inKernel bool) []*node {
	if s.kernel || inKernel {
		return n.children
	}
	out := n.children[:0:0]
	for _, c := range n.children {
		if !c.IsKernelThread() {
			out = append(out, c)
		}
	}
	return out
}

// shown returns the nodes a tree draws: with filters, the matches and their
// ancestors up to the roots; without, everything visible.
func (s *selection) shown(t *table, roots []*node) map[*node]bool {
	keep := map[*node]bool{}
	var walk func(n *node, inKernel bool) bool
	walk = func(n *node, inKernel bool) bool {
		if keep[n] {
			return true // reached again from an overlapping root
		}
		any := !s.filtered() || s.match(t, n)
		for _, c := range s.visibleChildren(n, inKernel) {
			if walk(c, inKernel) {
				any = true
			}
		}
		if any {
			keep[n] = true
		}
		return any
	}
	for _, r := range roots {
		walk(r, r.IsKernelThread())
	}
	return keep
}

// matches returns the matching processes under roots, each once, in the
// order the tree draws them: parents before children, siblings by PID.
func (s *selection) matches(t *table, roots []*node) []*node {
	var out []*node
	for _, n := range s.under(roots) {
		if s.match(t, n) {
			out = append(out, n)
		}
	}
	return out
}

// under returns every visible process under roots, each once, in the order
// the tree draws them.
func (s *selection) under(roots []*node) []*node {
	seen := map[*node]bool{}
	var out []*node
	var walk func(n *node, inKernel bool)
	walk = func(n *node, inKernel bool) {
		if seen[n] {
			return
		}
		seen[n] = true
		out = append(out, n)
		for _, c := range s.visibleChildren(n, inKernel) {
			walk(c, inKernel)
		}
	}
	for _, r := range roots {
		walk(r, r.IsKernelThread())
	}
	return out
}
