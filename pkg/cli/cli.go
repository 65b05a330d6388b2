// Package cli is the plumbing every pkit tool shares: kong set-up, version,
// exit codes, "tool: message" errors, durations, names and stdin arguments.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/alecthomas/kong"
)

// Version is set at link time by goreleaser (-X); otherwise it comes from
// the module's build information.
var Version = ""

// Command describes one pkit tool: its name, one-line help and kong grammar.
type Command struct {
	Name    string
	Help    string
	Grammar any // pointer to the kong grammar struct
}

// Env is what a tool's Run method receives: its name and standard streams.
type Env struct {
	Name   string
	Stdin  *os.File
	Stdout io.Writer
	Stderr io.Writer
}

// versionFlag is embedded into every tool's grammar.
type versionFlag struct {
	Version kong.VersionFlag `help:"Print the version and exit."`
}

// exitRequest carries kong's exit status (after --help or --version) out of
// the parser without calling os.Exit below Main.
type exitRequest int

// Parser builds the kong parser of cmd. Tests use it to walk the model.
func Parser(cmd *Command, stdout, stderr io.Writer) (*kong.Kong, error) {
	return kong.New(cmd.Grammar,
		kong.Name(cmd.Name),
		kong.Description(cmd.Help),
		kong.Embed(&versionFlag{}),
		kong.Vars{"version": cmd.Name + " " + version()},
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exitRequest(code)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: true}),
		kong.ValueFormatter(HelpWithDefault),
	)
}

// HelpWithDefault is a flag's help as --help prints it: kong's, plus
// "(default: X)" for a value with a default tag, which kong shows only in
// place of a placeholder, or "(default: $VAR)" for one read from the
// environment, unless the help already says "(default ...", in words
// where there is no tag (--timeout's "wait forever") or its value means
// something else (get --holder's -1 is the caller). Booleans and counters
// are off unless they say otherwise.
func HelpWithDefault(v *kong.Value) string {
	help := kong.DefaultHelpValueFormatter(v)
	if v.IsBool() || v.IsCounter() || strings.Contains(help, "(default") {
		return help
	}
	var suffix string
	switch {
	case v.Default != "":
		suffix = "(default: " + v.Default + ")"
	case len(v.Tag.Envs) > 0:
		help, suffix = v.Help, "(default: $"+strings.Join(v.Tag.Envs, ", else $")+")"
	default:
		return help
	}
	if body, ok := strings.CutSuffix(help, "."); ok {
		return body + " " + suffix + "."
	}
	return strings.TrimSpace(help + " " + suffix)
}

// Run parses args for cmd and runs the selected command, returning the exit
// status. Errors are printed once, as "tool: message".
func Run(cmd *Command, args []string) int {
	return RunWith(cmd, args, func(kctx *kong.Context, env *Env) error { return kctx.Run(env) })
}

// RunWith is Run with another way to run the selected command: pshm-nats
// runs pshm's grammar against a server instead of through its Run methods.
func RunWith(cmd *Command, args []string, run func(*kong.Context, *Env) error) (status int) {
	env := &Env{Name: cmd.Name, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	defer func() {
		if r := recover(); r != nil {
			code, ok := r.(exitRequest)
			if !ok {
				panic(r)
			}
			status = int(code)
		}
	}()
	parser, err := Parser(cmd, env.Stdout, env.Stderr)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: internal error: %v\n", cmd.Name, err)
		return ExitFail
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n%s: run '%s --help' for usage\n", cmd.Name, err, cmd.Name, cmd.Name)
		return ExitUsage
	}
	return Report(env, run(kctx, env))
}

// Report prints err (if any) as "tool: message" and returns the exit status
// it stands for.
func Report(env *Env, err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(env.Stderr, "%s: %v\n", env.Name, ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintf(env.Stderr, "%s: %v\n", env.Name, err)
	// Packages below cli (rundir) say their status this way.
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		return coded.ExitCode()
	}
	return ExitFail
}

func version() string {
	if Version != "" {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// Warnf prints a warning on stderr as "tool: message", for what a tool
// reports and carries on from; an error that ends it is returned to Run,
// which prints it once.
func (e *Env) Warnf(format string, a ...any) {
	fmt.Fprintf(e.Stderr, "%s: %s\n", e.Name, fmt.Sprintf(format, a...))
}

// CompanionPath finds the companion binary name (pqueue-nats, pshm-nats)
// next to the running executable, where pkit installs it and where
// go build -o DIR/ ./cmd/... puts it, else on $PATH.
func CompanionPath(name string) (string, error) {
	where := "on $PATH"
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		if path, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return path, nil
		}
		where = "in " + dir + " nor on $PATH"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("not found %s", where)
	}
	return path, nil
}
