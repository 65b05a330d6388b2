package complete

import (
	"cmp"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/posener/complete"
	"golang.org/x/sys/unix"

	"github.com/pkit-sh/pkit/pkg/job"
	"github.com/pkit-sh/pkit/pkg/proc"
	"github.com/pkit-sh/pkit/pkg/ptree"
	"github.com/pkit-sh/pkit/pkg/rundir"
	"github.com/pkit-sh/pkit/pkg/shm"
)

// The predictors below read the live state as it is at the keystroke:
// plain directory listings, no locks, and nothing created (rundir.Path,
// not rundir.Dir), so completing is fast and never changes anything.

// predictors maps the completion-predictor tags of the grammars to their
// predictors.
func predictors() map[string]complete.Predictor {
	return map[string]complete.Predictor{
		"file":         complete.PredictFiles("*"),
		"ptree-fields": listPredictor(ptree.FieldNames()),
		"ptree-sort":   listPredictor(ptree.FieldNames(), "-"),
		"ptree-state":  listPredictor(stateLetters()),
		"jobs":         complete.PredictFunc(func(complete.Args) []string { return jobRefs() }),
		"queues":       complete.PredictFunc(func(complete.Args) []string { return queueNames() }),
		"shm":          complete.PredictFunc(func(complete.Args) []string { return shmNames() }),
		"signals":      complete.PredictSet(signalNames()...),
		"halt":         complete.PredictSet(haltRules()...),
	}
}

// jobRefs lists the recorded jobs' ids, oldest first, then their names.
// It decodes only each record's name: a job store keeps every ended job
// until pjoin --forget, and completion must stay fast with hundreds.
func jobRefs() []string {
	dir := filepath.Join(rundir.Path(), "jobs")
	files, err := filepath.Glob(filepath.Join(dir, "j*.json"))
	if err != nil {
		return nil
	}
	var ids []string
	for _, f := range files {
		if id := strings.TrimSuffix(filepath.Base(f), ".json"); job.IsID(id) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int { // j2 before j10
		return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
	})
	var names []string
	for _, id := range ids {
		var r struct {
			Name string `json:"name"`
		}
		if b, err := os.ReadFile(filepath.Join(dir, id+".json")); err == nil && json.Unmarshal(b, &r) == nil &&
			r.Name != "" && !slices.Contains(names, r.Name) {
			names = append(names, r.Name)
		}
	}
	return append(ids, names...)
}

// queueNames lists the local queues (the directories of queues/).
func queueNames() []string {
	return listDir(filepath.Join(rundir.Path(), "queues"), func(e os.DirEntry) bool {
		return e.IsDir()
	})
}

// shmNames lists the shared objects: the regular files of the shm
// directory, without glibc's semaphores.
func shmNames() []string {
	dir := os.Getenv("PKIT_SHM_DIR")
	if dir == "" {
		d, err := shm.Dir()
		if err != nil {
			return nil
		}
		dir = d
	}
	return listDir(dir, func(e os.DirEntry) bool {
		return e.Type().IsRegular() && !strings.HasPrefix(e.Name(), "sem.")
	})
}

func listDir(dir string, keep func(os.DirEntry) bool) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") && keep(e) {
			out = append(out, e.Name())
		}
	}
	return out
}

func stateLetters() []string {
	var out []string
	for _, s := range proc.States {
		out = append(out, string(s.Letter))
	}
	return out
}

// signalNames lists the short names (TERM, KILL, ...) of the system's
// standard signals.
func signalNames() []string {
	var out []string
	for sig := syscall.Signal(1); sig < 32; sig++ {
		if n := unix.SignalName(sig); n != "" {
			out = append(out, strings.TrimPrefix(n, "SIG"))
		}
	}
	return out
}

// haltRules lists ppool's --halt forms, with N as 1.
func haltRules() []string {
	out := []string{"never"}
	for _, when := range []string{"now", "soon"} {
		for _, what := range []string{"fail", "success", "done"} {
			out = append(out, when+","+what+"=1")
		}
	}
	return out
}
