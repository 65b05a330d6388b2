package ppool

import (
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	cases := []struct {
		cmd  []string
		item Item
		want []string
	}{
		{[]string{"echo"}, Item{"a b"}, []string{"echo", "a b"}},
		{[]string{"cp", "{}", "{.}.bak"}, Item{"d/x.txt"}, []string{"cp", "d/x.txt", "d/x.bak"}},
		{[]string{"e", "{/}", "{//}", "{/.}"}, Item{"d.e/x"}, []string{"e", "x", "d.e", "x"}},
		{[]string{"e", "{2}{1}", "{3}"}, Item{"a", "b"}, []string{"e", "ba", ""}},
		{[]string{"e", "{}"}, Item{"a", "b"}, []string{"e", "a", "b"}},
		{[]string{"e", "x{}"}, Item{"a", "b"}, []string{"e", "xa b"}},
		{[]string{"e", "{#}-{%}", "{x}", "{0}"}, Item{"a"}, []string{"e", "7-2", "{x}", "{0}"}},
		{[]string{"e", "{.}"}, Item{".hidden"}, []string{"e", ".hidden"}},
	}
	for _, c := range cases {
		if got := ParseTemplate(c.cmd).Expand(c.item, 7, 2); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q with %q: got %q, want %q", c.cmd, c.item, got, c.want)
		}
	}
}

func TestShellScript(t *testing.T) {
	words := []string{"echo {} | tr", "{1.} $(({#}*2))"}
	job := ParseTemplate(words).ShellScript(words)
	for _, c := range []struct {
		item   Item
		script string
		params []string
	}{
		// Plain words go in as they are, as GNU parallel does (so that
		// arithmetic works); anything else is a quoted parameter.
		{Item{"a.b"}, `echo a.b | tr a $((7*2))`, nil},
		{Item{"a b.c"}, `echo "${1}" | tr "${2}" $((7*2))`, []string{"a b.c", "a b"}},
		{Item{"$(x);'"}, `echo "${1}" | tr "${2}" $((7*2))`, []string{"$(x);'", "$(x);'"}},
		{Item{"x=1"}, `echo "${1}" | tr "${2}" $((7*2))`, []string{"x=1", "x=1"}},
		{Item{""}, `echo "${1}" | tr "${2}" $((7*2))`, []string{"", ""}},
	} {
		script, params := job(c.item, 7, 1)
		if script != c.script || !reflect.DeepEqual(params, c.params) {
			t.Errorf("%q: got %q %q, want %q %q", c.item, script, params, c.script, c.params)
		}
	}
}

func TestItemsProductAndLink(t *testing.T) {
	collect := func(link bool) []string {
		it, err := NewItems([]Source{&listSource{items: []string{"a", "b"}}, &listSource{items: []string{"1", "2", "3"}}}, link, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for {
			v, err := it.Next()
			if err == io.EOF {
				return out
			}
			out = append(out, strings.Join(v, ""))
		}
	}
	if got := collect(false); strings.Join(got, " ") != "a1 a2 a3 b1 b2 b3" {
		t.Errorf("product: %q", got)
	}
	if got := collect(true); strings.Join(got, " ") != "a1 b2 a3" {
		t.Errorf("link: %q", got)
	}
}

func TestParseHalt(t *testing.T) {
	for _, s := range []string{"now,fail=1", "soon,success=2", "soon,done=50%", "never"} {
		if _, err := parseHalt(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"now", "later,fail=1", "now,fail=0", "now,oops=1", "now,fail=200%"} {
		if _, err := parseHalt(s); err == nil {
			t.Errorf("%s: accepted", s)
		}
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"{}", "{1/.}x{#}", "{{}}", "{", "}{"} {
		f.Add(s, "a/b.c")
	}
	f.Fuzz(func(t *testing.T, word, item string) {
		tpl := ParseTemplate([]string{word})
		_ = tpl.Expand(Item{item, item}, 1, 1)
		// No shell syntax comes from the item: the script holds no more
		// of these characters than the template (quoting adds only "${}).
		script, params := tpl.ShellScript([]string{word})(Item{item}, 1, 1)
		if !tpl.HasReplacements() {
			if len(params) != 1 || params[0] != item {
				t.Fatalf("without replacement strings the item is the parameter: %q", params)
			}
			return
		}
		for _, r := range ";'|&<>()`\\ \t\n*?[]~#!=" {
			if strings.Count(script, string(r)) > strings.Count(word, string(r)) {
				t.Fatalf("item %q put %q into script %q", item, r, script)
			}
		}
	})
}
