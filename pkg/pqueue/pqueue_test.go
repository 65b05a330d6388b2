package pqueue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pkit-sh/pkit/pkg/cli"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/local"
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
