package pshm

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/sharedstate"
	"github.com/pkit-sh/pkit/pkg/shm"
)

type lsCmd struct {
	JSON bool `help:"One JSON object per object."`
	Sems bool `help:"Also list glibc named semaphores (sem.NAME)."`
}

// typeName is what ls shows in the TYPE column: the element type of a
// value, else the kind.
func typeName(o *shm.Object) string {
	switch o.Kind() {
	case shm.KindValue:
		return o.Type().String()
	case shm.KindDict:
		k, v := o.DictSizes()
		return fmt.Sprintf("dict:%d:%d", k, v)
	}
	return o.Kind().String()
}

func ownerName(fi os.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "?"
	}
	uid := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return uid
}

func (c *lsCmd) Run(env *cli.Env) error {
	objs, sems, err := shm.List(c.Sems)
	if err != nil {
		return err
	}
	defer func() {
		for _, o := range objs {
			o.Close()
		}
	}()
	w := tabwriter.NewWriter(env.Stdout, 1, 8, 1, ' ', 0)
	row := func(name, typ string, n, size int, fi os.FileInfo) {
		mode := fmt.Sprintf("%04o", fi.Mode().Perm())
		if c.JSON {
			jsonLine(env.Stdout, map[string]any{"name": name, "type": typ, "len": n, "bytes": size, "mode": mode, "owner": ownerName(fi)})
			return
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\n", name, typ, n, size, mode, ownerName(fi))
	}
	for _, o := range objs {
		row(o.Name, typeName(o), o.Len(), o.Size(), o.Info)
	}
	dir, _ := shm.Dir()
	for _, s := range sems {
		if fi, err := os.Stat(dir + "/" + s); err == nil {
			row(s, "posix-sem", 1, int(fi.Size()), fi)
		}
	}
	return w.Flush()
}

type rmCmd struct {
	Names []string `arg:"" optional:"" name:"name" help:"Objects to remove (default: names on stdin)." completion-predictor:"shm"`
	Force bool     `short:"f" help:"Ignore objects that do not exist."`
}

func (c *rmCmd) run(env *cli.Env, s sharedstate.Store, srv *Server) error {
	names, err := cli.ArgsOrStdin(c.Names, env.Stdin)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return cli.Usagef("no objects to remove")
	}
	ctx, cancel := srv.opContext()
	defer cancel()
	var worst error
	for _, n := range names {
		err := cli.ValidName("object", n)
		if err == nil {
			err = s.Remove(ctx, n)
			if c.Force && errors.Is(err, shm.ErrNotExist) {
				err = nil
			}
		}
		if err = fail(err); err != nil {
			code := cli.Report(env, err)
			if worst == nil || code == cli.ExitUsage {
				worst = cli.Exit(code, nil)
			}
		}
	}
	return worst
}

type dumpCmd struct {
	Names []string `arg:"" name:"name" help:"Objects to print." completion-predictor:"shm"`
}

// describe returns an object's metadata and contents for dump and info.
func describe(o *shm.Object, contents bool) map[string]any {
	d := map[string]any{
		"name": o.Name, "path": o.Path, "kind": o.Kind().String(), "type": typeName(o),
		"len": o.Len(), "elem_size": o.ElemSize(), "data_offset": shm.DataOffset,
		"data_bytes": o.DataSize(), "bytes": o.Size(), "mode": fmt.Sprintf("%04o", o.Info.Mode().Perm()),
		"owner": ownerName(o.Info), "created": o.Created().UTC().Format(time.RFC3339Nano),
	}
	if h, ok := o.Lock().Holder(); ok {
		d["lock_holder"] = h.PID
	}
	if g, ok := o.Lock().Group(); ok {
		d["lock_group"] = g.PID
	}
	switch o.Kind() {
	case shm.KindValue:
		d["numpy_dtype"], d["struct_format"] = o.Type().Numpy(), o.Type().Struct()
		if contents {
			vals := make([]any, o.Len())
			for i := range vals {
				if v, err := o.Get(i); err == nil {
					vals[i] = v.JSON()
				}
			}
			d["values"] = vals
		}
	case shm.KindSem:
		var pids []int
		for _, h := range o.SemHolders() {
			pids = append(pids, h.PID)
		}
		d["holders"] = pids
	case shm.KindEvent:
		d["set"], _ = o.EventIsSet()
	case shm.KindBarrier:
		d["waiting"], d["generation"] = o.BarrierState()
	case shm.KindDict:
		d["key_size"], d["value_size"] = o.DictSizes()
		if contents {
			keys, vals, _ := o.DictItems()
			m := make(map[string]string, len(keys))
			for i, k := range keys {
				m[k] = vals[i]
			}
			d["items"] = m
		}
	}
	return d
}

func (c *dumpCmd) Run(env *cli.Env) error {
	for _, n := range c.Names {
		o, err := open(n)
		if err != nil {
			return err
		}
		err = jsonLine(env.Stdout, describe(o, true))
		o.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

type infoCmd struct {
	Name string `arg:"" help:"Object to describe." completion-predictor:"shm"`
	JSON bool   `help:"One JSON object."`
}

// infoOrder is the order info prints its fields in.
var infoOrder = []string{"name", "path", "kind", "type", "len", "elem_size", "data_offset", "data_bytes", "bytes", "numpy_dtype", "struct_format", "key_size", "value_size", "mode", "owner", "created", "lock_holder", "lock_group", "holders", "set", "waiting", "generation"}

func (c *infoCmd) Run(env *cli.Env) error {
	o, err := open(c.Name)
	if err != nil {
		return err
	}
	defer o.Close()
	d := describe(o, false)
	if c.JSON {
		return jsonLine(env.Stdout, d)
	}
	for _, k := range infoOrder {
		if v, ok := d[k]; ok {
			fmt.Fprintf(env.Stdout, "%s\t%v\n", k, v)
		}
	}
	return nil
}
