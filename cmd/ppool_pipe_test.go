package cmd_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// TestPpoolPipeRandom: for random inputs (seeded: $PKIT_TRIAL_SEED
// replays a run) and block sizes from 1 byte to past the input, `ppool
// --pipe -k cat` gives back the input byte for byte, whether its stdin is
// a pipe or a file (cut as --pipepart cuts it) read from a random offset
// on, which it leaves at the end; `ppool --pipepart -k cat` too; and with
// --header, --tag and --joblog (its Send), a file gives what a pipe does.
func TestPpoolPipeRandom(t *testing.T) {
	bin := toolBin(t)
	r := rand.New(rand.NewPCG(trialSeed(t), 0))
	dir := t.TempDir()
	for trial := 0; trial < 6; trial++ {
		var in []byte
		for n := r.IntN(40); n > 0; n-- {
			for k := r.IntN(50); k > 0; k-- {
				in = append(in, "ab \t\x00"[r.IntN(5)])
			}
			in = append(in, '\n')
		}
		if r.IntN(3) == 0 && len(in) > 0 {
			in = in[:len(in)-1]
		}
		path := filepath.Join(dir, "in"+strconv.Itoa(trial))
		if err := os.WriteFile(path, in, 0o644); err != nil {
			t.Fatal(err)
		}
		for i, size := range []int{1 + r.IntN(len(in)+1), 1, len(in) + 1, len(in) + 100} {
			block := []string{"--block", strconv.Itoa(size), "-k", "-j2"}
			from := r.IntN(len(in) + 1)
			part := append([]string{"--pipepart", "-a", path}, block...)
			pipe := append([]string{"--pipe"}, block...)
			for _, c := range []struct {
				args []string
				path string
				off  int
			}{{pipe, path, 0}, {pipe, path, from}, {pipe, "", from}, {part, "", 0}} {
				args := append(slices.Clip(c.args), "cat")
				if out := runPipe(t, bin, dir, args, c.path, c.off, in); !bytes.Equal(out, in[c.off:]) {
					t.Fatalf("ppool %q on %q from offset %d gave %q for the input %q", args, c.path, c.off, out, in)
				}
			}
			if i > 0 {
				continue // one size is enough for the rest
			}
			more := []string{"--header", "1", "--tag", "--joblog", filepath.Join(dir, "log"), "sh", "-c", "cat; echo"}
			for _, c := range []struct {
				args []string
				off  int
			}{{pipe, from}, {part, 0}} {
				args := append(slices.Clip(c.args), more...)
				want := runPipe(t, bin, dir, append(slices.Clip(pipe), more...), "", c.off, in)
				if got := runPipe(t, bin, dir, args, path, c.off, in); !bytes.Equal(got, want) {
					t.Fatalf("ppool %q from offset %d of %q: %q, but from a pipe %q", args, c.off, in, got, want)
				}
			}
		}
	}
}

// runPipe runs ppool args on the input in from offset off: from the file
// path, whose offset --pipe must leave at the end, or without a path
// through a pipe. With --joblog, the Send column goes after the output.
func runPipe(t *testing.T, bin, dir string, args []string, path string, off int, in []byte) []byte {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "ppool"), args...)
	cmd.Env = append(os.Environ(), "PKIT_DIR="+filepath.Join(dir, ".pkit"), "GORACE=atexit_sleep_ms=0")
	var f *os.File
	if path == "" {
		cmd.Stdin = bytes.NewReader(in[off:]) // exec feeds it through a pipe
	} else {
		var err error
		if f, err = os.Open(path); err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Seek(int64(off), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		cmd.Stdin = f
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ppool %q: %v", args, err)
	}
	if f != nil && args[0] == "--pipe" {
		if at, err := f.Seek(0, io.SeekCurrent); err != nil || at != int64(len(in)) {
			t.Fatalf("ppool %q left its stdin at %d (%v), want the end, %d", args, at, err, len(in))
		}
	}
	if slices.Contains(args, "--joblog") {
		log, err := exec.Command("sh", "-c", `cut -f1,5 "$0" | sort -n`, filepath.Join(dir, "log")).Output()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, log...)
	}
	return out
}
