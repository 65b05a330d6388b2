package ppool

import (
	"path/filepath"
	"strings"

	"github.com/pkit-sh/pkit/pkg/cli"
)

// shellSyntax marks a one-word CMD that is shell text rather than a program.
const shellSyntax = " \t\n|&;<>()$`\\\"'*?[]~"

// chooseShell is the shell that runs CMD (its words), or "" to run CMD
// directly. --shell PATH always runs CMD through PATH. Otherwise a shell
// is used when CMD is one word of shell text or begins with a function
// that bash exported (export -f): $PARALLEL_SHELL if set, as in GNU
// parallel; for an exported function bash ($SHELL when that is a bash);
// else sh. $SHELL is not the default: it may be a shell (fish, csh) that
// reads another language than the sh that scripts are written for.
func chooseShell(flag string, words []string, getenv func(string) string) (string, error) {
	if flag != "" {
		if strings.ContainsAny(flag, shellSyntax) {
			return "", cli.Usagef("--shell %q: want the shell to run CMD with, e.g. --shell bash", flag)
		}
		return flag, nil
	}
	fn := exportedFunction(words, getenv)
	if !fn && !(len(words) == 1 && strings.ContainsAny(words[0], shellSyntax)) {
		return "", nil
	}
	if sh := getenv("PARALLEL_SHELL"); sh != "" {
		return sh, nil
	}
	if !fn {
		return "sh", nil
	}
	if sh := getenv("SHELL"); filepath.Base(sh) == "bash" {
		return sh, nil
	}
	return "bash", nil
}

// exportedFunction reports whether CMD's first word (of its shell text
// when it is one word) names a function exported by bash, which bash
// passes in the environment as BASH_FUNC_name%% (or BASH_FUNC_name()
// before bash 4.3-048).
func exportedFunction(words []string, getenv func(string) string) bool {
	if len(words) == 0 {
		return false
	}
	name := strings.TrimLeft(words[0], " \t\n")
	if i := strings.IndexAny(name, shellSyntax); i >= 0 {
		name = name[:i]
	}
	if name == "" || strings.ContainsAny(name, "/=") {
		return false
	}
	return getenv("BASH_FUNC_"+name+"%%") != "" || getenv("BASH_FUNC_"+name+"()") != ""
}
