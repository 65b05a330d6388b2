package ppool

import (
	"path/filepath"
	"strconv"
	"strings"
)

// part is a literal run of text or a replacement string.
type part struct {
	lit  string
	repl string // "", "{}", "{.}", "{/}", "{//}", "{/.}", "{#}", "{%}", or "{N...}"
	col  int    // 1-based column for {N}, {N.}, {N/}...; 0 for all values
	kind string // the modifier after the column: "", ".", "/", "//", "/."
}

// arg is one word of the command template.
type arg []part

// Template is a parsed command line with its replacement strings.
type Template struct {
	args   []arg
	hasRep bool
}

// ParseTemplate recognises {} {.} {/} {//} {/.} {#} {%} and {N} {N.} {N/}
// {N//} {N/.} in every word of cmd.
func ParseTemplate(cmd []string) *Template {
	t := &Template{}
	for _, w := range cmd {
		var a arg
		lit := strings.Builder{}
		for i := 0; i < len(w); {
			if w[i] == '{' {
				if end := strings.IndexByte(w[i:], '}'); end > 0 {
					if p, ok := parseRepl(w[i+1 : i+end]); ok {
						if lit.Len() > 0 {
							a = append(a, part{lit: lit.String()})
							lit.Reset()
						}
						a = append(a, p)
						t.hasRep = true
						i += end + 1
						continue
					}
				}
			}
			lit.WriteByte(w[i])
			i++
		}
		if lit.Len() > 0 || len(a) == 0 {
			a = append(a, part{lit: lit.String()})
		}
		t.args = append(t.args, a)
	}
	return t
}

func parseRepl(s string) (part, bool) {
	switch s {
	case "#", "%":
		return part{repl: "{" + s + "}"}, true
	}
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	col := 0
	if n > 0 {
		c, err := strconv.Atoi(s[:n])
		if err != nil || c == 0 {
			return part{}, false
		}
		col = c
	}
	switch kind := s[n:]; kind {
	case "", ".", "/", "//", "/.":
		return part{repl: "{" + s + "}", col: col, kind: kind}, true
	}
	return part{}, false
}

// HasReplacements reports whether any word holds a replacement string.
func (t *Template) HasReplacements() bool { return t.hasRep }

// MaxColumn is the highest N of the {N...} replacement strings, 0 if none.
func (t *Template) MaxColumn() int {
	n := 0
	for _, a := range t.args {
		for _, p := range a {
			n = max(n, p.col)
		}
	}
	return n
}

// value renders one replacement for a job.
func (p part) value(item Item, seq, slot int) string {
	switch p.repl {
	case "{#}":
		return strconv.Itoa(seq)
	case "{%}":
		return strconv.Itoa(slot)
	}
	var v string
	if p.col == 0 {
		v = strings.Join(item, " ")
	} else if p.col <= len(item) {
		v = item[p.col-1]
	}
	return modify(v, p.kind)
}

func modify(v, kind string) string {
	switch kind {
	case ".":
		return trimExt(v)
	case "/":
		return filepath.Base(v)
	case "//":
		return filepath.Dir(v)
	case "/.":
		return trimExt(filepath.Base(v))
	}
	return v
}

// trimExt removes the extension of the last path element only.
func trimExt(v string) string {
	slash := strings.LastIndexByte(v, '/')
	if dot := strings.LastIndexByte(v, '.'); dot > slash+1 {
		return v[:dot]
	}
	return v
}

// Expand builds the argv of one job. A word that is exactly {} (or {N}
// without modifiers is not split) expands to one argument per value; without
// any replacement string the values are appended.
func (t *Template) Expand(item Item, seq, slot int) []string {
	out := make([]string, 0, len(t.args)+len(item))
	for _, a := range t.args {
		if len(a) == 1 && a[0].repl == "{}" && len(item) > 1 {
			out = append(out, item...)
			continue
		}
		if len(a) == 1 && a[0].repl == "" {
			out = append(out, a[0].lit)
			continue
		}
		var b strings.Builder
		for _, p := range a {
			if p.repl == "" {
				b.WriteString(p.lit)
			} else {
				b.WriteString(p.value(item, seq, slot))
			}
		}
		out = append(out, b.String())
	}
	if !t.hasRep {
		out = append(out, item...)
	}
	return out
}

// ShellScript renders the template as shell text for each job, as GNU
// parallel does: a replacement whose value is a plain word (see plainWord)
// is inserted as it is, so that it works wherever the shell allows a word,
// arithmetic included; any other value becomes a quoted positional
// parameter ("${1}", "${2}"...) passed in params, so items never become
// shell syntax. Without replacement strings the item's values are the
// parameters and `"$@"` is appended unless the script already refers to
// `$`.
func (t *Template) ShellScript(words []string) func(item Item, seq, slot int) (script string, params []string) {
	if !t.hasRep {
		script := strings.Join(words, " ")
		if !strings.Contains(script, "$") {
			script += ` "$@"`
		}
		return func(item Item, _, _ int) (string, []string) { return script, item }
	}
	return func(item Item, seq, slot int) (string, []string) {
		var b strings.Builder
		var params []string
		for i, a := range t.args {
			if i > 0 {
				b.WriteByte(' ')
			}
			for _, p := range a {
				if p.repl == "" {
					b.WriteString(p.lit)
					continue
				}
				v := p.value(item, seq, slot)
				if plainWord(v) {
					b.WriteString(v)
					continue
				}
				params = append(params, v)
				b.WriteString(`"${` + strconv.Itoa(len(params)) + `}"`)
			}
		}
		return b.String(), params
	}
}

// plainWord reports whether v means itself to a shell wherever a word may
// stand: letters, digits and -_./:,+@% only. "=" is left out (a first
// word with one is an assignment), and so is the empty string.
func plainWord(v string) bool {
	return v != "" && strings.IndexFunc(v, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:,+@%", r))
	}) < 0
}

// shellQuote renders argv as one line a shell would read back the same.
func shellQuote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
		}) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}
