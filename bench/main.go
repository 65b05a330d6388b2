// Bench runs each pkit tool side by side with its anchors (GNU parallel,
// xargs, pstree, flock, redis, ...) in one run and prints medians and ratios.
//
//	go run ./bench [-runs N] [SUITE...]
//
// With no SUITE every suite runs. Anchors that are not installed are
// skipped with a note.
package main

import (
	"flag"
	"fmt"
	"os"
)

// suites lists every tool's benchmark; a tool adds its line here.
var suites = []Suite{
	ptreeSuite,
	pshmSuite,
	pqueueSuite,
	pqueueExecSuite,
	ppoolListenSuite,
	pjoinSuite,
	pqueueNatsSuite,
	pshmNatsSuite,
	ppoolSuite,
	restartSuite,
	ppoolPipeSuite,
	// SUITES: one line per tool, keep this marker last
}

func main() {
	runs := flag.Int("runs", 10, "timed runs per case (medians are reported)")
	flag.Parse()
	b, err := newBench(*runs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	defer b.close()
	want := map[string]bool{}
	for _, a := range flag.Args() {
		want[a] = true
	}
	status := 0
	for _, s := range suites {
		if len(want) > 0 && !want[s.Name] {
			continue
		}
		fmt.Printf("\n## %s: %s\n", s.Name, s.About)
		if err := s.Run(b); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", s.Name, err)
			status = 1
		}
	}
	os.Exit(status)
}
