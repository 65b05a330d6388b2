package cmd_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkit-sh/pkit/pkg/natsserver"
	"github.com/pkit-sh/pkit/pkg/natsserver/natstest"
	"github.com/pkit-sh/pkit/pkg/queue"
	"github.com/pkit-sh/pkit/pkg/queue/natsq"
)

// TestPpoolQueueKill kills a ppool --queue worker with -9 in the middle of
// a job, against a real embedded NATS server: the job dies with it, the
// item is delivered again when its lease expires, another worker runs it
// once more and acknowledges it, and nothing is lost or run a third time.
// 20 trials, a few at a time, each with its own queue.
func TestPpoolQueueKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills workers and waits for leases to expire")
	}
	const (
		trials   = 20
		parallel = 4
		lease    = 2 * time.Second // the NATS AckWait; ppool renews it every third
		token    = "kill-test"
	)
	srv := natstest.Start(t, natsserver.Config{Token: token})
	b, err := natsq.Dial(srv.URL(), queue.Auth{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	ppool := filepath.Join(toolBin(t), "ppool")
	env := append(os.Environ(), "PQUEUE_URL="+srv.URL(), "PQUEUE_TOKEN="+token, "GORACE=atexit_sleep_ms=0", "NO_COLOR=1")

	dirs := make([]string, trials)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	start := time.Now()
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range trials {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := killTrial(b, ppool, env, dirs[i], fmt.Sprintf("kill%d", i), lease); err != nil {
				t.Errorf("trial %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d trials in %v", trials, time.Since(start).Round(time.Millisecond))
}

// killJob appends "MODE PID" to runs; the victim's job then sleeps (exec,
// so that its PID is the one that must die with ppool), the other's
// appends the item to done.
const killJob = `echo "$MODE $$" >> runs; if [ "$MODE" = victim ]; then exec sleep 60; fi; echo "$1" >> done`

func killTrial(b *natsq.Backend, ppool string, env []string, dir, name string, lease time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	q, err := b.Create(ctx, name, queue.Config{Lease: lease})
	if err != nil {
		return err
	}
	item := "item-" + name
	if _, err := q.Put(ctx, [][]byte{[]byte(item)}, false); err != nil {
		return err
	}
	worker := func(mode string, args ...string) (*exec.Cmd, error) {
		cmd := exec.Command(ppool, append(args, "--queue", name, "-j", "1", "--", "sh", "-c", killJob, "x")...)
		cmd.Dir = dir
		cmd.Env = append(slices.Clip(env), "MODE="+mode, "PKIT_DIR="+filepath.Join(dir, mode))
		out, err := os.Create(filepath.Join(dir, mode+".out"))
		if err != nil {
			return nil, err
		}
		defer out.Close()
		cmd.Stdout, cmd.Stderr = out, out
		return cmd, cmd.Start()
	}
	runs := filepath.Join(dir, "runs")

	// The victim takes the item and is killed while its job runs.
	victim, err := worker("victim")
	if err != nil {
		return err
	}
	defer victim.Process.Kill()
	if err := waitUntil(ctx, func() bool { return strings.Contains(readString(runs), "victim ") }); err != nil {
		return fmt.Errorf("the victim's job did not start: %w (%s)", err, readString(filepath.Join(dir, "victim.out")))
	}
	victim.Process.Kill()
	victim.Wait()
	var jobPID int
	fmt.Sscanf(strings.TrimPrefix(readString(runs), "victim "), "%d", &jobPID)
	if jobPID <= 0 {
		return fmt.Errorf("no job PID in runs: %q", readString(runs))
	}
	if err := waitUntil(ctx, func() bool { return gone(jobPID) }); err != nil {
		syscall.Kill(jobPID, syscall.SIGKILL)
		return fmt.Errorf("the victim's job %d outlived it", jobPID)
	}

	// Another worker gets the item once the lease expires and runs it.
	survivor, err := worker("ok", "-f", "--results", name+"-res")
	if err != nil {
		return err
	}
	defer survivor.Process.Kill()
	if err := waitUntil(ctx, func() bool { return readString(filepath.Join(dir, "done")) != "" }); err != nil {
		return fmt.Errorf("the item was not run again: %w (%s)", err, readString(filepath.Join(dir, "ok.out")))
	}
	// Its record is put before the item is done: wait for both.
	if err := waitUntil(ctx, func() bool {
		st, err := q.Stats(ctx)
		return err == nil && st.Done == 1
	}); err != nil {
		return fmt.Errorf("the item was not acknowledged: %w", err)
	}
	survivor.Process.Signal(syscall.SIGINT)
	werr := survivor.Wait()
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != 130 {
		return fmt.Errorf("survivor after SIGINT: %v, want exit 130 (%s)", werr, readString(filepath.Join(dir, "ok.out")))
	}

	if lines := strings.Fields(readString(runs)); len(lines) != 4 || lines[0] != "victim" || lines[2] != "ok" {
		return fmt.Errorf("runs = %q, want the victim's run and one more", readString(runs))
	}
	if got := readString(filepath.Join(dir, "done")); got != item+"\n" {
		return fmt.Errorf("done = %q, want the item once", got)
	}
	st, err := q.Stats(ctx)
	if err != nil {
		return err
	}
	if st.Ready != 0 || st.Leased != 0 || st.Done != 1 || st.Dead != 0 {
		return fmt.Errorf("stats = %+v, want 1 done and nothing left", st)
	}
	res, err := b.Open(ctx, name+"-res")
	if err != nil {
		return err
	}
	recs, err := res.Get(ctx, 10, queue.GetOptions{NoWait: true})
	if err != nil || len(recs) != 1 {
		return fmt.Errorf("results: %d records, %v; want 1", len(recs), err)
	}
	var rec struct {
		Item       string `json:"item"`
		Deliveries int    `json:"deliveries"`
		Exit       int    `json:"exit"`
	}
	if err := json.Unmarshal(recs[0].Data, &rec); err != nil || rec.Item != item || rec.Deliveries != 2 || rec.Exit != 0 {
		return fmt.Errorf("result %s (%v): want item %s, delivery 2, exit 0", recs[0].Data, err, item)
	}
	return nil
}

// waitUntil polls cond every 20 ms until it holds or ctx is done.
func waitUntil(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// gone reports whether pid has exited (a zombie counts as gone).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}
