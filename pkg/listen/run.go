package listen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
)

// Options are the command-line settings of a server (ppool --listen).
type Options struct {
	Config
	Addr      string
	Ready     string // write the bound address to this file once listening
	PrintAddr bool   // print the bound address on stdout once listening
	Joblog    string // append one tab-separated line per connection
	JSON      bool   // one JSON Lines record per connection on stdout
	Progress  bool   // active/served counts on stderr
}

// Run serves until SIGINT, SIGTERM or SIGHUP, then drains (see
// Server.Serve); a second signal kills the handlers at once. It returns
// the 128+N status of the signal that stopped it.
func Run(opts Options, stdout io.Writer) error {
	a, err := ParseAddr(opts.Addr)
	if err != nil {
		return cli.Usagef("--listen: %v", err)
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	out := &recordWriter{stdout: stdout, json: opts.JSON}
	if opts.Joblog != "" {
		f, err := os.OpenFile(opts.Joblog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open joblog: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
			fmt.Fprintln(f, joblogHeader)
		}
		out.joblog = f
	}
	opts.OnDone = out.write
	opts.CountBytes = opts.CountBytes || opts.Joblog != "" || opts.JSON
	srv, err := New(opts.Config)
	if err != nil {
		return err
	}
	l, err := Listen(a)
	if err != nil {
		return err
	}
	defer l.Close()
	if opts.Ready != "" {
		if err := writeReady(opts.Ready, l.Addr.String()); err != nil {
			return err
		}
		defer os.Remove(opts.Ready)
	}
	if opts.PrintAddr {
		if _, err := fmt.Fprintln(stdout, l.Addr); err != nil {
			return fmt.Errorf("print address: %w", err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stopped atomic.Int32
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		stopped.Store(int32(sig.(syscall.Signal)))
		cancel()
		if _, ok := <-sigs; ok {
			srv.Kill()
		}
	}()
	var progress *progressLine
	if opts.Progress {
		progress = startProgress(opts.Stderr, l.Addr, srv)
	}
	err = srv.Serve(ctx, l)
	if progress != nil {
		progress.stop()
	}
	signal.Stop(sigs)
	close(sigs)
	if err != nil {
		return err
	}
	if out.err != nil {
		return out.err
	}
	return cli.Exit(cli.ExitSignalBase+int(stopped.Load()), nil)
}

// writeReady writes the address to path atomically, so a script waiting
// for the file never reads half of it.
func writeReady(path, addr string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ready-*")
	if err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	_, werr := fmt.Fprintln(tmp, addr)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write ready file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write ready file: %w", err)
	}
	return nil
}

// joblogHeader is GNU parallel's joblog header: Host is the peer, Send the
// bytes the client sent, Receive the bytes it was sent back.
const joblogHeader = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"

// recordWriter turns records into joblog lines and JSON Lines. Server
// calls it serially.
type recordWriter struct {
	stdout io.Writer
	json   bool
	joblog io.Writer
	err    error // the first write error, reported at exit
}

// jsonRecord is one connection in --json output.
type jsonRecord struct {
	Seq      int      `json:"seq"`
	Slot     int      `json:"slot"`
	Peer     string   `json:"peer"`
	Start    float64  `json:"start"`
	Runtime  float64  `json:"runtime"`
	Exit     int      `json:"exit"`
	Signal   int      `json:"signal"`
	BytesIn  *int64   `json:"bytes_in"`
	BytesOut *int64   `json:"bytes_out"`
	Ended    *string  `json:"ended"` // null when the handler exited by itself
	Command  []string `json:"command"`
}

func (w *recordWriter) write(r Record) {
	start := float64(r.Start.UnixMicro()) / 1e6
	if w.joblog != nil {
		_, err := fmt.Fprintf(w.joblog, "%d\t%s\t%.3f\t%.3f\t%s\t%s\t%d\t%d\t%s\n",
			r.Seq, r.Peer, start, r.Runtime.Seconds(), count(r.BytesIn), count(r.BytesOut),
			r.Exit, r.Signal, strings.Join(r.Command, " "))
		w.keep(err)
	}
	if w.json {
		b, err := json.Marshal(jsonRecord{
			Seq: r.Seq, Slot: r.Slot, Peer: r.Peer, Start: start, Runtime: r.Runtime.Seconds(),
			Exit: r.Exit, Signal: r.Signal, BytesIn: known(r.BytesIn), BytesOut: known(r.BytesOut),
			Ended: ended(r.Ended), Command: r.Command,
		})
		if err == nil {
			_, err = w.stdout.Write(append(b, '\n'))
		}
		w.keep(err)
	}
}

func (w *recordWriter) keep(err error) {
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("write record: %w", err)
	}
}

func count(n int64) string {
	if n < 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}

func ended(why string) *string {
	if why == "" {
		return nil
	}
	return &why
}

func known(n int64) *int64 {
	if n < 0 {
		return nil
	}
	return &n
}

// progressLine redraws "active N served N failed N" on a terminal.
type progressLine struct {
	done chan struct{}
	wg   sync.WaitGroup
}

func startProgress(w io.Writer, addr Addr, srv *Server) *progressLine {
	p := &progressLine{done: make(chan struct{})}
	draw := func() {
		st := srv.Stats()
		fmt.Fprintf(w, "\r\x1b[K%s  active %d  served %d  failed %d  refused %d", addr, st.Active, st.Served, st.Failed, st.Refused)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			draw()
			select {
			case <-p.done:
				draw()
				fmt.Fprintln(w)
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *progressLine) stop() {
	close(p.done)
	p.wg.Wait()
}
