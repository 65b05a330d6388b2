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
	words := []string{"echo {} | tr", "{1.}"}
	script, params := ParseTemplate(words).ShellScript(words)
	if script != `echo "${1}" | tr "${2}"` {
		t.Fatalf("script %q", script)
	}
	if got := params(Item{"a.b"}, 1, 1); !reflect.DeepEqual(got, []string{"a.b", "a"}) {
		t.Fatalf("params %q", got)
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
		script, params := tpl.ShellScript([]string{word})
		if strings.Contains(script, item) && tpl.HasReplacements() && item != "" && !strings.Contains(word, item) {
			t.Fatalf("item %q spliced into script %q", item, script)
		}
		_ = params(Item{item}, 1, 1)
	})
}
