package pshm

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/sharedstate"
	"github.com/pkit-sh/pkit/pkg/shm"
)

type createCmd struct {
	Name    string   `arg:"" help:"Object name: letters, digits and ._@+- (the file /dev/shm/NAME)."`
	Type    string   `arg:"" help:"Element type: i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 bytes:N str:N, or a Python typecode (b h i l q B H I L Q f d c); or lock, sem, event, barrier, dict[:KEYSIZE:VALSIZE]."`
	Len     *int     `short:"n" placeholder:"N" help:"Array length (default 1); slots of a sem (default 1); parties of a barrier; entries of a dict (default 256)."`
	Init    []string `placeholder:"V" sep:"none" help:"Initial value of the next element (repeatable); one value fills the whole array (default: 0, or empty for bytes and str)."`
	Values  []string `arg:"" optional:"" name:"value" help:"More initial values, after --init's: pshm create A i32 -n 3 --init 0 1 2."`
	Mode    string   `default:"0600" placeholder:"MODE" help:"Permission bits, octal."`
	ExistOK bool     `name:"exist-ok" help:"Succeed if the object already exists with the same type and length (it is left unchanged)."`
}

// dictType matches dict, dict:KEYSIZE:VALSIZE.
const dictType = `^dict(?::(\d+):(\d+))?$`

// spec turns the command line into an object shape.
func (c *createCmd) spec() (shm.Spec, error) {
	mode, err := modeFlag(c.Mode)
	if err != nil {
		return shm.Spec{}, err
	}
	s := shm.Spec{Mode: mode}
	if c.Len != nil {
		if *c.Len < 1 {
			return s, cli.Usagef("invalid -n %d: a length is at least 1", *c.Len)
		}
		s.Len = *c.Len
	}
	orDefault := func(d int) int {
		if c.Len == nil {
			return d
		}
		return s.Len
	}
	dictRE := regexp.MustCompile(dictType)
	switch t := c.Type; {
	case t == "lock":
		s.Kind, s.Len = shm.KindLock, 0
	case t == "event":
		s.Kind, s.Len = shm.KindEvent, 0
	case t == "sem":
		s.Kind, s.Len = shm.KindSem, orDefault(1)
	case t == "barrier":
		if c.Len == nil {
			return s, cli.Usagef("a barrier needs --len N (its number of parties)")
		}
		s.Kind = shm.KindBarrier
	case dictRE.MatchString(t):
		s.Kind, s.Len, s.KeySize, s.ValSize = shm.KindDict, orDefault(shm.DefaultDictLen), shm.DefaultDictKeySize, shm.DefaultDictValSize
		if m := dictRE.FindStringSubmatch(t); m[1] != "" {
			fmt.Sscan(m[1], &s.KeySize)
			fmt.Sscan(m[2], &s.ValSize)
		}
		if s.KeySize < 1 || s.KeySize > shm.MaxStrSize || s.ValSize > shm.MaxStrSize {
			return s, cli.Usagef("invalid dict sizes in %q", t)
		}
	default:
		et, err := shm.ParseType(t)
		if err != nil {
			return s, cli.Exit(cli.ExitUsage, err)
		}
		s.Kind, s.Type, s.Len = shm.KindValue, et, orDefault(1)
	}
	if n := len(c.Init) + len(c.Values); n > 0 && s.Kind != shm.KindValue {
		return s, cli.Usagef("initial values apply to values and arrays, not to a %s", s.Kind)
	} else if n > s.Len {
		return s, cli.Usagef("%d initial values for %d element(s)", n, s.Len)
	}
	return s, nil
}

func (c *createCmd) run(env *cli.Env, s sharedstate.Store, srv *Server) error {
	if err := cli.ValidName("object", c.Name); err != nil {
		return err
	}
	spec, err := c.spec()
	if err != nil {
		return err
	}
	var init []shm.Value
	for _, s := range append(c.Init, c.Values...) {
		v, err := shm.ParseValue(spec.Type, s)
		if err != nil {
			return cli.Usagef("--init: %v", err)
		}
		init = append(init, v)
	}
	if len(init) == 1 && spec.Len > 1 {
		for len(init) < spec.Len {
			init = append(init, init[0])
		}
	}
	ctx, cancel := srv.opContext()
	defer cancel()
	created, err := s.Create(ctx, c.Name, spec, c.ExistOK, init)
	if errors.Is(err, shm.ErrExist) {
		return cli.Exit(cli.ExitFail, err)
	}
	if err != nil {
		return fail(err)
	}
	if !created && len(init) > 0 {
		env.Warnf("%s exists; --init ignored", c.Name)
	}
	return nil
}

// valueRef parses str and resolves its indexes against the value it names.
func valueRef(ctx context.Context, s sharedstate.Store, str string) (sharedstate.Object, ref, error) {
	r, err := parseRef(str)
	if err != nil {
		return sharedstate.Object{}, r, err
	}
	ob, err := s.Stat(ctx, r.name)
	if err != nil {
		return ob, r, fail(err)
	}
	if k := ob.Spec.Kind; k != shm.KindValue {
		return ob, r, cli.Usagef("%s is a %s, not a value (use pshm %s)", r.name, k, k)
	}
	return ob, r, r.resolve(ob.Spec.Len)
}

// element is valueRef for a command (verb) on one element: NAME or NAME[I].
func element(ctx context.Context, s sharedstate.Store, str, verb string) (sharedstate.Object, ref, error) {
	ob, r, err := valueRef(ctx, s, str)
	if err == nil && r.isSlice {
		err = cli.Usagef("%s takes NAME or NAME[I], not a slice", verb)
	}
	return ob, r, err
}

type getCmd struct {
	Ref  string `arg:"" name:"name[i]" help:"NAME (every element), NAME[I] (negative counts from the end), or a Python slice NAME[A:B] or NAME[A:B:STEP]." completion-predictor:"shm"`
	JSON bool   `help:"One JSON object per element: name, index, value."`
}

func (c *getCmd) run(env *cli.Env, s sharedstate.Store, srv *Server) error {
	ctx, cancel := srv.opContext()
	defer cancel()
	ob, r, err := valueRef(ctx, s, c.Ref)
	if err != nil {
		return err
	}
	var b strings.Builder
	for i, ok := r.first(); ok; i, ok = r.next(i) {
		v := ob.Values[i]
		if c.JSON {
			jsonLine(&b, map[string]any{"name": r.name, "index": i, "value": v.JSON()})
		} else {
			b.WriteString(v.String())
			b.WriteByte('\n')
		}
	}
	_, err = fmt.Fprint(env.Stdout, b.String())
	return err
}

type setCmd struct {
	Ref    string   `arg:"" name:"name[i]" help:"NAME or NAME[I]: the first element to set." completion-predictor:"shm"`
	Values []string `arg:"" optional:"" name:"value" help:"Values for consecutive elements; without any, one a line from standard input (seq 0 9 | pshm set A)."`
}

// parseValues parses every value before anything is written, so bad input
// leaves the object unchanged.
func parseValues(t shm.Type, ss []string) ([]shm.Value, error) {
	vals := make([]shm.Value, len(ss))
	for k, s := range ss {
		v, err := shm.ParseValue(t, s)
		if err != nil {
			return nil, cli.Exit(cli.ExitUsage, err)
		}
		vals[k] = v
	}
	return vals, nil
}

func (c *setCmd) run(env *cli.Env, s sharedstate.Store, srv *Server) error {
	ctx, cancel := srv.opContext()
	defer cancel()
	ob, r, err := element(ctx, s, c.Ref, "set")
	if err != nil {
		return err
	}
	in, err := cli.ArgsOrStdin(c.Values, env.Stdin)
	if err != nil {
		return fmt.Errorf("read values: %w", err)
	}
	if len(in) == 0 {
		return cli.Usagef("set needs values, as arguments or one a line on standard input")
	}
	vals, err := parseValues(ob.Spec.Type, in)
	if err != nil {
		return err
	}
	if n := ob.Spec.Len; r.start+len(vals) > n {
		return cli.Usagef("%d value(s) from index %d do not fit: %s has %d element(s)", len(vals), r.start, r.name, n)
	}
	return fail(s.Set(ctx, r.name, r.start, vals))
}

type addCmd struct {
	Ref   string `arg:"" name:"name[i]" help:"NAME or NAME[I]." completion-predictor:"shm"`
	Delta string `arg:"" help:"Amount to add (may be negative)."`
	Quiet bool   `short:"q" help:"Do not print the new value."`
}

func (c *addCmd) run(env *cli.Env, s sharedstate.Store, srv *Server) error {
	ctx, cancel := srv.opContext()
	defer cancel()
	ob, r, err := element(ctx, s, c.Ref, "add")
	if err != nil {
		return err
	}
	d, err := shm.ParseDelta(ob.Spec.Type, c.Delta)
	if err != nil {
		return cli.Exit(cli.ExitUsage, err)
	}
	v, err := s.Add(ctx, r.name, r.start, d)
	if err != nil {
		return fail(err)
	}
	if !c.Quiet {
		_, err = fmt.Fprintln(env.Stdout, v.String())
	}
	return err
}

type casCmd struct {
	Ref string `arg:"" name:"name[i]" help:"NAME or NAME[I]." completion-predictor:"shm"`
	Old string `arg:"" help:"Expected value."`
	New string `arg:"" help:"Value to store if the element holds OLD."`
}

func (c *casCmd) run(env *cli.Env, s sharedstate.Store, srv *Server) error {
	ctx, cancel := srv.opContext()
	defer cancel()
	ob, r, err := element(ctx, s, c.Ref, "cas")
	if err != nil {
		return err
	}
	vals, err := parseValues(ob.Spec.Type, []string{c.Old, c.New})
	if err != nil {
		return err
	}
	ok, cur, err := s.CAS(ctx, r.name, r.start, vals[0], vals[1])
	if err != nil {
		return fail(err)
	}
	if !ok {
		fmt.Fprintln(env.Stdout, cur.String())
		return errNo
	}
	return nil
}

type waitCmd struct {
	Ref     string       `arg:"" name:"name[i]" help:"NAME or NAME[I]." completion-predictor:"shm"`
	Value   string       `arg:"" optional:"" help:"Value to compare with (or give it in --until)."`
	Until   string       `required:"" placeholder:"OP" help:"Comparison: == != < <= > >= (or eq ne lt le gt ge), optionally followed by the value, e.g. '>= 10'."`
	Timeout cli.Duration `short:"t" placeholder:"DUR" help:"Give up after DUR (exit 124) (default: 0, wait forever)."`
}

// condSyntax is an --until comparison: an operator, maybe with its value.
const condSyntax = `^\s*(==|!=|<=|>=|=|<|>|eq|ne|lt|le|gt|ge)\s*(.*?)\s*$`

func (c *waitCmd) run(env *cli.Env, s sharedstate.Store, srv *Server) error {
	octx, cancel := srv.opContext()
	ob, r, err := element(octx, s, c.Ref, "wait")
	cancel()
	if err != nil {
		return err
	}
	m := regexp.MustCompile(condSyntax).FindStringSubmatch(c.Until)
	if m == nil {
		return cli.Usagef("invalid --until %q (want an operator: == != < <= > >=)", c.Until)
	}
	val := m[2]
	switch {
	case val != "" && c.Value != "":
		return cli.Usagef("two values to compare with: %q and %q", val, c.Value)
	case val == "":
		val = c.Value
	}
	if val == "" {
		return cli.Usagef("wait needs a value to compare with")
	}
	vals, err := parseValues(ob.Spec.Type, []string{val})
	if err != nil {
		return err
	}
	cond := shm.Cond{Op: shm.CondOps[m[1]], Val: vals[0]}
	ctx, done := waitContext(c.Timeout)
	v, err := s.Wait(ctx, r.name, r.start, cond)
	if err := done(err); err != nil {
		return err
	}
	_, err = fmt.Fprintln(env.Stdout, v.String())
	return err
}
