package ppool

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func strp(s string) *string { return &s }

// pipeCases are the record formats of the trials.
var pipeCases = []struct {
	name  string
	flags PipeFlags
	null  bool
	gen   func(r *rand.Rand) []byte // one record
}{
	{"lines", PipeFlags{}, false, func(r *rand.Rand) []byte { return append(randBytes(r, "ab\r", 30), '\n') }},
	{"null", PipeFlags{}, true, func(r *rand.Rand) []byte { return append(randBytes(r, "a\nb", 30), 0) }},
	{"fasta", PipeFlags{Recstart: strp(">")}, false, func(r *rand.Rand) []byte {
		return append([]byte(">seq"+strconv.Itoa(r.IntN(99))+"\n"), randBytes(r, "ACGT\n", 80)...)
	}},
	{"end+start", PipeFlags{Recend: strp(`\n`), Recstart: strp(">")}, false, func(r *rand.Rand) []byte {
		return append([]byte(">h\nA"), append(randBytes(r, "AC>", 40), '\n')...)
	}},
	{"regexp", PipeFlags{Recend: strp(`END\n`), Recstart: strp(`[0-9]+,`), Regexp: true}, false, func(r *rand.Rand) []byte {
		return []byte(strconv.Itoa(r.IntN(1000)) + "," + string(randBytes(r, "x,\n", 20)) + "END\n")
	}},
}

func randBytes(r *rand.Rand, alphabet string, n int) []byte {
	b := make([]byte, r.IntN(n+1))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return b
}

// trialSeed is the seed of the random trials: $PKIT_TRIAL_SEED replays one.
func trialSeed(t *testing.T) uint64 {
	seed := rand.Uint64()
	if s := os.Getenv("PKIT_TRIAL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("PKIT_TRIAL_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with PKIT_TRIAL_SEED=%d)", seed, seed)
	return seed
}

// blocks cuts in with --pipe and with --pipepart and checks both alike.
func blocks(t *testing.T, in []byte, rs *records, size int) [][]byte {
	t.Helper()
	bs := &blockSource{r: bytes.NewReader(in), rs: rs, size: size}
	var got [][]byte
	for {
		_, err := bs.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, bs.last.data)
	}
	path := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(path, in, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ps := &partSource{f: f, rs: rs, size: int64(size), end: int64(len(in))}
	for i := 0; ; i++ {
		_, err := ps.Next()
		if errors.Is(err, io.EOF) {
			if i != len(got) {
				t.Fatalf("--pipepart cut %d blocks, --pipe %d", i, len(got))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, ps.last.n)
		if _, err := f.ReadAt(b, ps.last.off); err != nil {
			t.Fatal(err)
		}
		if i >= len(got) || !bytes.Equal(b, got[i]) {
			t.Fatalf("block %d: --pipepart %q, --pipe %q", i+1, b, got[min(i, len(got)-1)])
		}
	}
	return got
}

// TestBlocks: for random inputs and block sizes from 1 byte to past the
// input, the blocks put together are the input, each is whole records,
// and --pipepart cuts where --pipe does.
func TestBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(trialSeed(t), 0))
	for _, c := range pipeCases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := newRecords(&c.flags, c.null)
			if err != nil {
				t.Fatal(err)
			}
			for trial := 0; trial < 40; trial++ {
				var in []byte
				var recs [][]byte
				for n := r.IntN(60); n > 0; n-- {
					rec := c.gen(r)
					recs = append(recs, rec)
					in = append(in, rec...)
				}
				if r.IntN(4) == 0 && len(in) > 0 {
					in = in[:len(in)-1] // an unterminated last record
					recs[len(recs)-1] = recs[len(recs)-1][:len(recs[len(recs)-1])-1]
				}
				for _, size := range []int{1, 2, 7, 1 + r.IntN(len(in)+1), len(in), len(in) + 10} {
					got := blocks(t, in, rs, max(size, 1))
					if joined := bytes.Join(got, nil); !bytes.Equal(joined, in) {
						t.Fatalf("size %d: blocks %q do not make the input %q", size, got, in)
					}
					if len(in) == 0 && len(got) != 0 {
						t.Fatalf("empty input: %d blocks", len(got))
					}
					// Every cut is where a record ends: no record split.
					ends := map[int]bool{}
					at := 0
					for _, rec := range recs {
						at += len(rec)
						ends[at] = true
					}
					at = 0
					for _, b := range got {
						at += len(b)
						if !ends[at] {
							t.Fatalf("size %d: a cut at %d splits a record of %q (blocks %q)", size, at, in, got)
						}
					}
				}
			}
		})
	}
}

// FuzzBlocks: any input, any block size: the blocks make the input and
// --pipepart cuts as --pipe does.
func FuzzBlocks(f *testing.F) {
	f.Add([]byte("a\nbb\nccc\n"), uint16(2), ">")
	f.Add([]byte(">x\nAC\n>y\nG"), uint16(1), ">")
	f.Fuzz(func(t *testing.T, in []byte, size uint16, start string) {
		flags := PipeFlags{}
		if start != "" {
			flags.Recstart = &start
		}
		rs, err := newRecords(&flags, false)
		if err != nil {
			return
		}
		got := blocks(t, in, rs, int(size)+1)
		if !bytes.Equal(bytes.Join(got, nil), in) {
			t.Fatalf("blocks %q do not make the input %q", got, in)
		}
	})
}

// TestPartSourceStream: a file cut for --pipe moves its offset past each
// block, and a file grown before the end is reached is cut to its new end.
func TestPartSourceStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(path, []byte("a\nbb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := newRecords(&PipeFlags{}, false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newPartSource(f, 2, 5, rs, 1, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	s.stream = true
	for _, want := range []struct {
		off, n, at int64
		grow       string
	}{{2, 3, 5, "c\n"}, {5, 2, 7, ""}} {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
		at, err := f.Seek(0, io.SeekCurrent)
		if err != nil || s.last.off != want.off || s.last.n != want.n || at != want.at {
			t.Fatalf("block at %d of %d bytes, offset %d (%v); want %d, %d, %d", s.last.off, s.last.n, at, err, want.off, want.n, want.at)
		}
		if _, err := f.WriteAt([]byte(want.grow), at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the end: %v, want io.EOF", err)
	}
}
