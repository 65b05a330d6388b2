package pqueue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/local"
	"github.com/pkit-sh/pkit/pkg/queue/location"
)

func drain(t *testing.T, q queue.Queue) []string {
	t.Helper()
	var out []string
	for {
		items, err := q.Get(context.Background(), 100, queue.GetOptions{NoWait: true})
		if errors.Is(err, queue.ErrEmpty) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			out = append(out, string(it.Data))
		}
	}
}

func TestPutStream(t *testing.T) {
	big := strings.Repeat("b", queue.MaxItemSize) // longer than the reader's buffer with its newline
	for _, tc := range []struct {
		name  string
		in    string
		sep   byte
		want  []string
		usage bool
	}{
		{"lines", "a\nb\n", '\n', []string{"a", "b"}, false},
		{"no final newline", "a\nb", '\n', []string{"a", "b"}, false},
		{"empty lines are items", "\n\nx\n", '\n', []string{"", "", "x"}, false},
		{"nul", "a\nb\x00c\x00", 0, []string{"a\nb", "c"}, false},
		{"max size item", "s\n" + big + "\nt\n", '\n', []string{"s", big, "t"}, false},
		{"too large", "s\n" + big + "x\nt\n", '\n', []string{"s"}, true},
		{"empty input", "", '\n', nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := local.New(t.TempDir(), local.Options{}).Create(context.Background(), "q", queue.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			err = putStream(context.Background(), q, strings.NewReader(tc.in), tc.sep, false, 0)
			var ee *cli.ExitError
			if tc.usage != (errors.As(err, &ee) && ee.Code == cli.ExitUsage) || (!tc.usage && err != nil) {
				t.Fatalf("putStream: %v (want usage error: %v)", err, tc.usage)
			}
			if got := drain(t, q); !slices.Equal(got, tc.want) {
				t.Errorf("got %d items %.40q, want %d", len(got), got, len(tc.want))
			}
		})
	}
}

func TestSubstitute(t *testing.T) {
	args, ok := substitute([]string{"-v", "file={}.txt", "{}"}, "x y")
	if !ok || !slices.Equal(args, []string{"-v", "file=x y.txt", "x y"}) {
		t.Errorf("substitute = %q, %v", args, ok)
	}
	if _, ok := substitute([]string{"-v"}, "x"); ok {
		t.Error("no {} reported as substituted")
	}
}

func TestLeaseIDOfGetLine(t *testing.T) {
	for line, want := range map[string]string{"1.1.0\titem one": "1.1.0", "2.3.4": "2.3.4"} {
		if got := leaseID(line); got != want {
			t.Errorf("leaseID(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestItemJSON(t *testing.T) {
	var buf bytes.Buffer
	c := &GetCmd{JSON: true}
	w := bufio.NewWriter(&buf)
	c.print(w, queue.Item{Data: []byte("caf\xe9"), Deliveries: 2, ID: "1.2.0"})
	c.print(w, queue.Item{Data: []byte(`say "hi"`), Deliveries: 1})
	w.Flush()
	want := `{"id":"1.2.0","item_base64":"Y2Fm6Q==","deliveries":2}` + "\n" + `{"item":"say \"hi\"","deliveries":1}` + "\n"
	if buf.String() != want {
		t.Errorf("got %s want %s", buf.String(), want)
	}
}

// TestOnLeasesOverlap: stdin chunks are settled two at a time, except that
// a chunk repeating an ID of the one before waits for it.
func TestOnLeasesOverlap(t *testing.T) {
	dir := t.TempDir()
	if _, err := local.New(dir, local.Options{}).Create(context.Background(), "q", queue.Config{}); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	type call struct {
		ids     []string
		release chan struct{}
	}
	started := make(chan call)
	op := func(_ context.Context, _ queue.Queue, ids []string) error {
		c := call{slices.Clone(ids), make(chan struct{})}
		started <- c
		<-c.release
		return nil
	}
	ret := make(chan error, 1)
	go func() {
		ret <- onLeases(&Globals{Flags: location.Flags{Dir: dir}}, &cli.Env{Name: "pqueue", Stdin: r}, "q", nil, op)
	}()
	wait := func(want string) call {
		t.Helper()
		select {
		case c := <-started:
			if strings.Join(c.ids, ",") != want {
				t.Fatalf("chunk %q started, want %s", c.ids, want)
			}
			return c
		case <-time.After(10 * time.Second):
			t.Fatalf("chunk %s not started", want)
			return call{}
		}
	}
	quiet := func() {
		t.Helper()
		select {
		case c := <-started:
			t.Fatalf("chunk %q started too early", c.ids)
		case <-time.After(200 * time.Millisecond):
		}
	}
	w.WriteString("a\n")
	a1 := wait("a")
	w.WriteString("b\n") // settled while a is
	b := wait("b")
	w.WriteString("a\n") // a third chunk waits for the first
	quiet()
	close(a1.release)
	a2 := wait("a")
	w.WriteString("a\n") // repeats the chunk before: waits for it too
	close(b.release)
	quiet()
	close(a2.release)
	close(wait("a").release)
	w.Close()
	if err := <-ret; err != nil {
		t.Fatal(err)
	}
}

// TestEveryCommandRuns: run calls each subcommand through runner, so each
// must implement it (a command kong selects without it would panic).
func TestEveryCommandRuns(t *testing.T) {
	k, err := cli.Parser(Command(), io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Model.Children) == 0 {
		t.Fatal("no subcommands in the model")
	}
	for _, n := range k.Model.Children {
		if _, ok := n.Target.Addr().Interface().(runner); !ok {
			t.Errorf("pqueue %s: %s has no run(*Globals, *cli.Env) error", n.Name, n.Target.Type())
		}
	}
}
