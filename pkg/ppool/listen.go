package ppool

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/lifetime"
	"github.com/pkit-sh/pkit/pkg/listen"
	"golang.org/x/sys/unix"
)

// ListenFlags are ppool's server mode (--listen, see pkg/listen): every
// accepted connection is a job whose stdin and stdout are the connection.
// It is embedded in CLI; -j, --shell, --timeout, --grace, --joblog,
// --json and --progress apply to the server too.
type ListenFlags struct {
	Listen         string       `placeholder:"ADDR" listen:"" group:"Server mode (--listen ADDR)" help:"Serve CMD once per connection on HOST:PORT, :PORT (loopback) or unix:PATH (default: none, run CMD on the items)."`
	MaxPerIP       int          `name:"max-per-ip" placeholder:"N" listen:"only" group:"Server mode (--listen ADDR)" help:"Close at once a connection beyond N from one IP (default: no limit)."`
	Idle           cli.Duration `placeholder:"DUR" listen:"only" group:"Server mode (--listen ADDR)" help:"End a connection that carries no data for DUR (default: never)."`
	StderrToClient bool         `name:"stderr-to-client" listen:"only" group:"Server mode (--listen ADDR)" help:"Send handlers' stderr to the client too."`
	Ready          string       `type:"path" placeholder:"FILE" listen:"only" group:"Server mode (--listen ADDR)" help:"Write the bound address to FILE once listening (default: none)."`
	PrintAddr      bool         `name:"print-addr" listen:"only" group:"Server mode (--listen ADDR)" help:"Print the bound address on stdout once listening."`

	given map[string]bool // flags named on the command line
}

// AfterApply (a kong hook) notes which flags were given, so -j can keep
// its pool default while a server defaults to listen.DefaultJobs, and
// refuses flag combinations that mean nothing. The grammar's listen tags
// say which flags a server reads: listen:"only" only a server,
// listen:"" both; any other flag (input sources, output modes, --halt,
// ...) is refused with --listen.
func (l *ListenFlags) AfterApply(kctx *kong.Context) error {
	l.given = map[string]bool{}
	var given []*kong.Flag
	for _, tr := range kctx.Path {
		if tr.Flag != nil {
			l.given[tr.Flag.Name] = true
			given = append(given, tr.Flag)
		}
	}
	var bad []string
	for _, f := range given {
		switch {
		case !l.given["listen"] && f.Tag.Get("listen") == "only":
			return cli.Usagef("--%s needs --listen", f.Name)
		case l.given["listen"] && !f.Tag.Has("listen"):
			bad = append(bad, "--"+f.Name)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return cli.Usagef("%s cannot be used with --listen", strings.Join(bad, ", "))
	}
	return nil
}

// listening reports whether ppool runs as a server.
func (l *ListenFlags) listening() bool { return l.given["listen"] || l.Listen != "" }

// serve runs ppool as a server: CMD once per connection on --listen.
func (c *CLI) serve(env *cli.Env) error {
	opts, err := c.listenOptions(env)
	if err != nil {
		return err
	}
	groups := lifetime.New(opts.Grace)
	defer groups.Close()
	// A server's handlers come at any time: its watchdog runs from the
	// start, so that none starts before it.
	if err := groups.Start(); err != nil {
		return err
	}
	opts.Groups = groups
	err = listen.Run(opts, env.Stdout)
	var ee *cli.ExitError
	if errors.As(err, &ee) && ee.Err == nil && ee.Code > cli.ExitSignalBase {
		// Stopped by a signal, after the drain: say so, as the pool does.
		return cli.Exit(ee.Code, fmt.Errorf("stopped by %s", unix.SignalName(syscall.Signal(ee.Code-cli.ExitSignalBase))))
	}
	return err
}

// listenOptions turns the flags into the server's options.
func (c *CLI) listenOptions(env *cli.Env) (listen.Options, error) {
	l := &c.Server
	args := c.Cmd
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	} else if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		return listen.Options{}, cli.Usagef("unknown flag %s", args[0])
	}
	for _, a := range args {
		if a == ":::" || a == "::::" {
			return listen.Options{}, cli.Usagef("%s cannot be used with --listen: the connections are the input", a)
		}
	}
	shell, err := chooseShell(c.Shell, args, os.Getenv)
	if err != nil {
		return listen.Options{}, err
	}
	if len(args) == 0 {
		return listen.Options{}, cli.Usagef("no command given to run for each connection")
	}
	jobs := listen.DefaultJobs
	if l.given["jobs"] {
		n, err := parseJobs(c.Jobs)
		if err != nil {
			return listen.Options{}, err
		}
		if n == 0 {
			return listen.Options{}, cli.Usagef("-j %s: a server needs a bound of at least 1", c.Jobs)
		}
		jobs = n
	}
	if l.MaxPerIP < 0 {
		return listen.Options{}, cli.Usagef("--max-per-ip %d: want N >= 0", l.MaxPerIP)
	}
	return listen.Options{
		Config: listen.Config{
			Command:        args,
			Shell:          shell,
			Jobs:           jobs,
			MaxPerIP:       l.MaxPerIP,
			Timeout:        c.Timeout.D(),
			Idle:           l.Idle.D(),
			Grace:          c.Grace.D(),
			StderrToClient: l.StderrToClient,
			Warn:           env.Warnf,
		},
		Addr:      l.Listen,
		Ready:     l.Ready,
		PrintAddr: l.PrintAddr,
		Joblog:    c.Joblog,
		JSON:      c.JSON,
		Progress:  !c.NoProgress && (c.Progress || cli.IsTerminal(os.Stderr)),
	}, nil
}
