package cmd_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestPpoolPipeRandom: for random inputs (seeded: $PKIT_TRIAL_SEED
// replays a run) and block sizes from 1 byte to past the input, `ppool
// --pipe -k cat` and `ppool --pipepart -k cat` give back the input byte
// for byte.
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
		for _, size := range []int{1, 1 + r.IntN(len(in)+1), len(in) + 1, len(in) + 100} {
			for _, mode := range [][]string{{"--pipe"}, {"--pipepart", "-a", path}} {
				args := append(append([]string{}, mode...), "--block", strconv.Itoa(size), "-k", "-j2", "cat")
				cmd := exec.Command(filepath.Join(bin, "ppool"), args...)
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				cmd.Stdin = f
				cmd.Env = append(os.Environ(), "PKIT_DIR="+filepath.Join(dir, ".pkit"), "GORACE=atexit_sleep_ms=0")
				out, err := cmd.Output()
				f.Close()
				if err != nil {
					t.Fatalf("ppool %q: %v", args, err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("ppool %q gave %q for the input %q", args, out, in)
				}
			}
		}
	}
}
