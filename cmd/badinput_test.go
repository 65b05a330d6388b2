package cmd_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// badInput is one malformed input to one binary and the answer every user
// of it must get: the documented exit status and one "tool: ..." line on
// stderr, with nothing changed in the state directory.
type badInput struct {
	tool string
	args []string
	code int            // 2 for bad input, 1 for a missing object
	say  *regexp.Regexp // what the one stderr line must match, after "tool: "
}

var (
	badNames = []string{"a/b", "..", "x..y", "a\tb", strings.Repeat("n", 129), ".hidden"}
	badDurs  = []string{"abc", "-1", "1x", "5 s"}
)

// badInputs builds the table: every kind of value in every tool that
// takes it.
func badInputs() []badInput {
	nameErr := regexp.MustCompile(`invalid (queue|object|job) name`)
	durErr := regexp.MustCompile(`duration`)
	var rows []badInput
	for _, n := range badNames {
		rows = append(rows,
			badInput{"pqueue", []string{"put", n, "item"}, 2, nameErr},
			badInput{"pqueue", []string{"get", "--nowait", n}, 2, nameErr},
			badInput{"pqueue", []string{"size", n}, 2, nameErr},
			badInput{"pshm", []string{"create", n, "i64"}, 2, nameErr},
			badInput{"pshm", []string{"get", n}, 2, nameErr},
			badInput{"pshm", []string{"lock", n, "--", "true"}, 2, nameErr},
			badInput{"pspawn", []string{"--name", n, "--", "true"}, 2, nameErr},
			badInput{"ppool", []string{"--queue", n, "true"}, 2, nameErr},
		)
	}
	for _, d := range badDurs {
		rows = append(rows,
			badInput{"pjoin", []string{"--timeout", d, "1"}, 2, durErr},
			badInput{"ppool", []string{"--timeout", d, "true", ":::", "1"}, 2, durErr},
			badInput{"pspawn", []string{"--timeout", d, "--", "true"}, 2, durErr},
			badInput{"pqueue", []string{"get", "--timeout", d, "q"}, 2, durErr},
			badInput{"ptree", []string{"-w", d}, 2, durErr},
		)
	}
	number := regexp.MustCompile(`.`)
	rows = append(rows,
		badInput{"ppool", []string{"-j", "abc", "true", ":::", "1"}, 2, number},
		badInput{"ppool", []string{"--retries=-1", "true", ":::", "1"}, 2, number},
		badInput{"ppool", []string{"echo", "{99}", ":::", "a"}, 2, number},
		badInput{"pshm", []string{"create", "x", "i64", "-n", "0"}, 2, number},
		badInput{"pshm", []string{"create", "x", "i64", "-n", "99999999999999"}, 2, number},
		badInput{"pshm", []string{"create", "x", "nosuchtype"}, 2, number},
		badInput{"ptree", []string{"-p", "abc"}, 2, number},
		badInput{"pspawn", []string{"--name", "", "--", "true"}, 2, number},
		badInput{"pspawn", []string{"--detatch", "--", "sleep", "1"}, 2, regexp.MustCompile(`unknown flag`)},
		badInput{"pqueued", []string{"--listen", "no:such:addr"}, 2, number},
	)
	// The helpers answer for themselves, with their own names.
	rows = append(rows,
		badInput{"pqueue-nats", []string{"put", "a/b", "item"}, 2, nameErr},
		badInput{"pshm-nats", []string{"get", "a/b"}, 2, nameErr},
		badInput{"pkit-complete", []string{"nosuchtool"}, 2, regexp.MustCompile(`unknown tool`)},
	)
	missing := regexp.MustCompile(`no such|not found|unknown`)
	rows = append(rows,
		badInput{"pjoin", []string{"nosuchjob"}, 1, missing},
		badInput{"pshm", []string{"get", "nosuchobject"}, 1, missing},
		badInput{"pqueue", []string{"size", "nosuchqueue"}, 1, missing},
		badInput{"pqueue", []string{"get", "--nowait", "nosuchqueue"}, 1, missing},
	)
	return rows
}

// TestBadInput runs every row against the real binary in a fresh state
// directory.
func TestBadInput(t *testing.T) {
	bin := toolBin(t)
	for _, row := range badInputs() {
		name := row.tool + " " + strings.Join(row.args, " ")
		t.Run(strings.NewReplacer("/", "_", "\t", "\\t").Replace(name), func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, ".pkit")
			cmd := exec.Command(filepath.Join(bin, row.tool), row.args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PKIT_DIR="+state, "PKIT_SHM_DIR="+filepath.Join(dir, "shm"),
				"GORACE=atexit_sleep_ms=0", "NO_COLOR=1", "PQUEUE_URL=", "PSHM_URL=")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			msg := strings.TrimSuffix(stderr.String(), "\n")
			if code != row.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, row.code, msg)
			}
			lines := strings.Split(msg, "\n")
			for _, l := range lines {
				if !strings.HasPrefix(l, row.tool+": ") {
					t.Errorf("stderr line %q lacks the %q prefix", l, row.tool+": ")
				}
			}
			if strings.Contains(msg, "goroutine ") || strings.Contains(msg, "panic:") {
				t.Errorf("a Go crash on bad input:\n%s", msg)
			}
			if !row.say.MatchString(lines[0]) {
				t.Errorf("stderr %q does not match %q", lines[0], row.say)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout on bad input: %q", stdout.String())
			}
			for _, d := range []string{state, filepath.Join(dir, "shm")} {
				if files := treeFiles(t, d); len(files) > 0 {
					t.Errorf("bad input changed the state: %v", files)
				}
			}
		})
	}
}

// treeFiles lists the files under dir (directories themselves aside: the
// state directory may be created by any call).
func treeFiles(t *testing.T, dir string) []string {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
