package cmd_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/complete"
	"github.com/rogpeppe/go-internal/testscript"
)

const repoRoot = ".."

// example is a shell snippet from the documentation that must run cleanly.
type example struct {
	name   string // unique testscript name
	source string // where it came from, for failure messages
	script string
	output *string // what it must print, where the document shows it
}

// TestManPages checks each tool's page: required sections, every flag of
// every command documented, and mandoc -Tlint clean (for a helper: that
// the page of the tool that runs it mentions it).
func TestManPages(t *testing.T) {
	sections := []string{"NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "EXIT STATUS", "EXAMPLES", "SEE ALSO"}
	for _, tl := range tools {
		t.Run(tl.name, func(t *testing.T) {
			if page, ok := helpers[tl.name]; ok {
				if !strings.Contains(readFile(t, filepath.Join(repoRoot, "man", page)), tl.name) {
					t.Errorf("man/%s does not mention %s", page, tl.name)
				}
				return
			}
			page := readFile(t, filepath.Join(repoRoot, "man", tl.name+".1"))
			for _, s := range sections {
				if !strings.Contains(page, "\n.Sh "+s+"\n") {
					t.Errorf("man/%s.1: missing section %s", tl.name, s)
				}
			}
			for _, f := range flagsOf(t, tl) {
				if !strings.Contains(page, ".Fl -"+f.Name) && !strings.Contains(page, "Fl -"+f.Name+" ") && !strings.Contains(page, "Fl -"+f.Name+"\n") {
					t.Errorf("man/%s.1: flag --%s is not documented (want \"Fl -%s\")", tl.name, f.Name, f.Name)
				}
				if f.Short != 0 && !strings.Contains(page, "Fl "+string(f.Short)) {
					t.Errorf("man/%s.1: short flag -%c is not documented", tl.name, f.Short)
				}
			}
		})
	}
	t.Run("lint", func(t *testing.T) {
		mandoc, err := exec.LookPath("mandoc")
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("mandoc not installed (.ci/run must install it)")
			}
			t.Skip("mandoc not installed")
		}
		pages, _ := filepath.Glob(filepath.Join(repoRoot, "man", "*.[1-8]"))
		if len(pages) == 0 {
			t.Fatal("no man pages")
		}
		out, err := exec.Command(mandoc, append([]string{"-Tlint", "-W", "warning"}, pages...)...).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("mandoc -Tlint: %v\n%s", err, out)
		}
	})
}

// flagsOf returns every visible flag of a tool, across its subcommands.
func flagsOf(t *testing.T, tl tool) []*kong.Flag {
	t.Helper()
	p, err := cli.Parser(tl.command(), io.Discard, io.Discard)
	if err != nil {
		t.Fatalf("%s: kong model: %v", tl.name, err)
	}
	seen := map[string]bool{}
	var flags []*kong.Flag
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			if !f.Hidden && !seen[f.Name] {
				seen[f.Name] = true
				flags = append(flags, f)
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(p.Model.Node)
	return flags
}

// TestCompletions checks that each tool but the helpers has bash, zsh and
// fish completion files that ask pkit-complete, and that pkit-complete
// completes every one of the tool's long flags in every command.
func TestCompletions(t *testing.T) {
	dir := t.TempDir()
	for _, tl := range tools {
		if _, ok := helpers[tl.name]; ok {
			continue
		}
		for _, f := range []string{"bash/" + tl.name, "zsh/_" + tl.name, "fish/" + tl.name + ".fish"} {
			if body := readFile(t, filepath.Join(repoRoot, "completions", f)); !strings.Contains(body, "pkit-complete "+tl.name) {
				t.Errorf("completions/%s does not call pkit-complete %s", f, tl.name)
			}
		}
		p, err := cli.Parser(tl.command(), io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var script strings.Builder
		var walk func(n *kong.Node, path string)
		walk = func(n *kong.Node, path string) {
			line := strings.Join(strings.Fields(tl.name+" "+path+" --"), " ")
			fmt.Fprintf(&script, "env 'COMP_LINE=%s'\nexec pkit-complete %s\n", line, tl.name)
			for _, f := range n.Flags {
				if !f.Hidden {
					fmt.Fprintf(&script, "stdout '^--%s$'\n", regexp.QuoteMeta(f.Name))
				}
			}
			for _, c := range n.Children {
				if !c.Hidden {
					walk(c, strings.TrimSpace(path+" "+c.Name))
				}
			}
		}
		walk(p.Model.Node, "")
		writeFile(t, filepath.Join(dir, "complete_"+tl.name+".txtar"), script.String())
	}
	if len(tools) > 0 {
		testscript.Run(t, scriptParams(dir))
	}
}

// TestFishCompletions sources each fish completion file in fish itself
// (skipped where fish is not installed): subcommands and flags come from
// pkit-complete, and paths only where it has nothing to offer.
func TestFishCompletions(t *testing.T) {
	if _, err := exec.LookPath("fish"); err != nil {
		t.Skip("fish is not installed")
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString("env HOME=$WORK\nmkdir somedir\n")
	for _, tl := range complete.Tools() {
		name := tl.Command().Name
		file := filepath.Join(root, "completions", "fish", name+".fish")
		fmt.Fprintf(&script, "exec timeout 30 fish --no-config -c 'source %s; complete -C \"%s --hel\"'\nstdout '^--help$'\n", file, name)
	}
	file := filepath.Join(root, "completions", "fish", "pqueue.fish")
	fmt.Fprintf(&script, "exec timeout 30 fish --no-config -c 'source %s; complete -C \"pqueue \"'\nstdout '^put$'\n! stdout somedir\n", file)
	fmt.Fprintf(&script, "exec timeout 30 fish --no-config -c 'source %s; complete -C \"pqueue --dir som\"'\nstdout '^somedir/$'\n", file)
	writeFile(t, filepath.Join(dir, "fish_completions.txtar"), script.String())
	testscript.Run(t, scriptParams(dir))
}

// TestShellCompletions types TOOL --hel<TAB><RET> into interactive bash
// and zsh shells that load the completion files (a shell that is not
// installed is skipped): the completed --help runs, a flag left as --hel
// would fail.
func TestShellCompletions(t *testing.T) {
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	shells := []struct {
		argv  string
		setup func(tool string) string
	}{
		{"bash --norc --noprofile -i", func(tool string) string {
			return "source " + filepath.Join(root, "completions", "bash", tool) + "\n"
		}},
		{"zsh -f -i", func(string) string { return "" }},
	}
	dir := t.TempDir()
	for _, sh := range shells {
		name := strings.Fields(sh.argv)[0]
		var script, input strings.Builder
		fmt.Fprintf(&script, "[!exec:%s] skip '%s is not installed'\nenv HOME=$WORK\nttyin -stdin input\nexec timeout --foreground 30 %s\n", name, name, sh.argv)
		if name == "zsh" {
			fmt.Fprintf(&input, "fpath=(%s $fpath); autoload -U compinit && compinit -u\n", filepath.Join(root, "completions", "zsh"))
		}
		for _, tl := range complete.Tools() {
			name := tl.Command().Name
			fmt.Fprintf(&input, "%s%s --hel\t\n", sh.setup(name), name)
			fmt.Fprintf(&script, "stdout '^Usage: %s '\n", name)
		}
		input.WriteString("exit\n")
		script.WriteString("! stderr 'unknown flag'\n")
		writeFile(t, filepath.Join(dir, name+"_completions.txtar"), script.String()+"-- input --\n"+input.String())
	}
	testscript.Run(t, scriptParams(dir))
}

// TestExamples runs every ```sh block of README.md and every literal block
// in the EXAMPLES section of each man page, as "sh -e" scripts in a fresh
// directory with the pkit binaries on PATH. A block preceded by an
// "untested:" marker (<!-- untested: why --> or .\" untested: why) is
// skipped, with its reason in the source; so are the README's set-up and
// test commands, which .ci/run runs itself (TestCIRunsReadme).
func TestExamples(t *testing.T) {
	var all []example
	all = append(all, readmeExamples(t)...)
	pages, _ := filepath.Glob(filepath.Join(repoRoot, "man", "*.[1-8]"))
	for _, p := range pages {
		all = append(all, manExamples(t, p)...)
	}
	if len(all) == 0 {
		t.Skip("no examples yet")
	}
	dir := t.TempDir()
	for _, ex := range all {
		body := fmt.Sprintf("# %s\nexec timeout 60 sh -e example.sh\n-- example.sh --\n%s", ex.source, ex.script)
		if ex.output != nil {
			body = fmt.Sprintf("# %s\nexec timeout 60 sh -e example.sh\ncmp stdout want\n-- example.sh --\n%s-- want --\n%s", ex.source, ex.script, *ex.output)
		}
		writeFile(t, filepath.Join(dir, ex.name+".txtar"), body)
	}
	testscript.Run(t, scriptParams(dir))
}

func readmeExamples(t *testing.T) []example {
	text := readFile(t, filepath.Join(repoRoot, "README.md"))
	var out []example
	lines := strings.Split(text, "\n")
	skip := false
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "<!-- untested:") || l == "<!-- setup-command -->" || l == "<!-- test-command -->" {
			skip = true
			continue
		}
		if l != "```sh" {
			if l != "" && !strings.HasPrefix(l, "```") {
				skip = false
			}
			continue
		}
		start := i + 1
		var b strings.Builder
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			b.WriteString(lines[i] + "\n")
		}
		ex := example{name: fmt.Sprintf("readme_line%d", start), source: fmt.Sprintf("README.md:%d", start), script: b.String()}
		// A block of what the example prints may follow it: an
		// "```output" fence, after blank lines at most.
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j < len(lines) && strings.TrimSpace(lines[j]) == "```output" {
			var o strings.Builder
			for j++; j < len(lines) && strings.TrimSpace(lines[j]) != "```"; j++ {
				o.WriteString(lines[j] + "\n")
			}
			want := o.String()
			ex.output, i = &want, j
		}
		if !skip {
			out = append(out, ex)
		}
		skip = false
	}
	return out
}

var roffEscapes = strings.NewReplacer(`\e`, `\`, `\-`, `-`, `\(aq`, `'`, `\(dq`, `"`, `\&`, ``, `\(ti`, `~`, `\(ha`, `^`, `\(ga`, "`")

func manExamples(t *testing.T, path string) []example {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base := filepath.Base(path)
	var out []example
	sc := bufio.NewScanner(f)
	// A block after a `.\" output` line is what the example before it
	// prints, compared rather than run.
	inExamples, inBlock, skip, isOutput := false, false, false, false
	var b strings.Builder
	n, start := 0, 0
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, ".Sh "):
			inExamples = l == ".Sh EXAMPLES"
		case !inExamples:
		case strings.HasPrefix(l, `.\" untested:`):
			skip = true
		case l == `.\" output`:
			isOutput = true
		case strings.HasPrefix(l, ".Bd -literal"):
			inBlock, start = true, n
			b.Reset()
		case inBlock && l == ".Ed" && isOutput:
			inBlock, isOutput = false, false
			if len(out) == 0 {
				t.Fatalf("%s:%d: an output block with no example before it", path, start)
			}
			want := b.String()
			out[len(out)-1].output = &want
		case inBlock && l == ".Ed":
			inBlock = false
			if !skip {
				name := strings.NewReplacer(".", "_").Replace(base)
				out = append(out, example{name: fmt.Sprintf("man_%s_line%d", name, start), source: fmt.Sprintf("man/%s:%d", base, start), script: b.String()})
			}
			skip = false
		case inBlock:
			b.WriteString(roffEscapes.Replace(l) + "\n")
		}
	}
	return out
}

// TestCIRunsReadme checks that .ci/run runs the README's set-up and test
// commands verbatim, so the README cannot drift from what CI proves.
func TestCIRunsReadme(t *testing.T) {
	readme := readFile(t, filepath.Join(repoRoot, "README.md"))
	ci := readFile(t, filepath.Join(repoRoot, ".ci", "run"))
	for _, marker := range []string{"setup-command", "test-command"} {
		m := regexp.MustCompile("(?s)<!-- " + marker + " -->\\s*```\\w*\\n(.*?)\\n```").FindStringSubmatch(readme)
		if m == nil {
			t.Errorf("README.md: no code block after <!-- %s -->", marker)
			continue
		}
		if !strings.Contains(ci, strings.TrimSpace(m[1])) {
			t.Errorf(".ci/run does not run the README's %s %q", marker, m[1])
		}
	}
}

// TestToolsListed checks that every cmd/ binary is registered in tools.
func TestToolsListed(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var dirs, listed []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "testdata" {
			dirs = append(dirs, e.Name())
		}
	}
	for _, tl := range tools {
		listed = append(listed, tl.name)
	}
	sort.Strings(listed)
	if strings.Join(dirs, " ") != strings.Join(listed, " ") {
		t.Errorf("cmd/ has %v but tools lists %v", dirs, listed)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHelpDefaults checks that --help says what every value flag of every
// tool does when it is absent (cli.HelpWithDefault renders it): "(default:
// X)" from a default tag, "(default: $VAR)" for a value read from the
// environment, else the help's own words, e.g. "(default: wait forever)",
// "(default: none)" or a default applied in code, "(default: 1)". Switches
// (booleans, counters) are off by default; a required flag has none.
func TestHelpDefaults(t *testing.T) {
	for _, tl := range tools {
		p, err := cli.Parser(tl.command(), io.Discard, io.Discard)
		if err != nil {
			t.Fatalf("%s: kong model: %v", tl.name, err)
		}
		var walk func(n *kong.Node)
		walk = func(n *kong.Node) {
			for _, f := range n.Flags {
				if f.Hidden || f.IsBool() || f.IsCounter() || f.Required {
					continue
				}
				if help := cli.HelpWithDefault(f.Value); !strings.Contains(help, "(default") {
					t.Errorf("%s %s --%s: help %q does not say what happens without the flag (\"(default: ...)\")", tl.name, n.FullPath(), f.Name, help)
				}
			}
			for _, c := range n.Children {
				walk(c)
			}
		}
		walk(p.Model.Node)
	}
}
