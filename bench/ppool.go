package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
)

var ppoolSuite = Suite{
	Name:  "ppool",
	About: "ppool against xargs -P2, GNU parallel and rush: 5000 x true and 2000 x echo {} (and -k) at -j2, a fork+exec floor, and peak RSS at 1k/10k items",
	Run:   benchPpool,
}

func benchPpool(b *Bench) error {
	dir := b.TempDir()
	in := filepath.Join(dir, "in5k")
	if err := exec.Command("sh", "-c", "seq 5000 > "+in).Run(); err != nil {
		return err
	}
	in2 := filepath.Join(dir, "in2k")
	if err := exec.Command("sh", "-c", "seq 2000 > "+in2).Run(); err != nil {
		return err
	}
	floor := Case{Name: "sh loop: 5000 x (true &) pairs (fork+exec floor)", Shell: "i=0; while [ $i -lt 2500 ]; do /bin/true & /bin/true; wait; i=$((i+1)); done"}
	if b.Have("gcc") {
		src := filepath.Join(dir, "floor.c")
		bin := filepath.Join(dir, "floor")
		c := `#include <unistd.h>
#include <sys/wait.h>
int main(void){char*a[]={"true",0};int run=0;for(int i=0;i<5000;i++){if(run==2){wait(0);run--;}if(fork()==0){execv("/bin/true",a);_exit(127);}run++;}while(wait(0)>0);return 0;}`
		if os.WriteFile(src, []byte(c), 0o644) == nil && exec.Command("gcc", "-O2", "-o", bin, src).Run() == nil {
			floor = Case{Name: "C fork+exec floor, 2 at a time", Shell: bin}
		}
	}
	trueCases := []Case{
		{Name: "ppool -j2 true", Shell: "ppool -j2 true < " + in, Base: true},
	}
	before, rev, err := b.Before("ppool")
	if err != nil {
		return err
	}
	if before != "" {
		trueCases = append(trueCases, Case{Name: "ppool at " + rev + " -j2 true", Shell: before + " -j2 true < " + in})
	}
	trueCases = append(trueCases,
		Case{Name: "xargs -P2 -n1 true", Shell: "xargs -P2 -n1 true < " + in},
		// GNU parallel takes 5x as long as the rest: one run keeps the
		// suite under two minutes.
		Case{Name: "parallel -j2 true", Shell: "parallel -j2 true < " + in, Needs: []string{"parallel"}, Runs: 1},
		Case{Name: "rush -j2 true", Shell: "rush -j 2 true < " + in, Needs: []string{"rush"}},
		floor,
	)
	if err := b.Compare("5000 x true at -j2", 0, trueCases...); err != nil {
		return err
	}
	if err := b.Compare("2000 x echo {} at -j2 (output captured)", 0,
		Case{Name: "ppool -j2 echo {}", Shell: "ppool -j2 echo {} < " + in2 + " > /dev/null", Base: true},
		Case{Name: "ppool -k -j2 echo {}", Shell: "ppool -k -j2 echo {} < " + in2 + " > /dev/null"},
		Case{Name: "xargs -P2 -I{} echo {}", Shell: "xargs -P2 -I{} echo {} < " + in2 + " > /dev/null"},
		Case{Name: "parallel -j2 echo {}", Shell: "parallel -j2 echo {} < " + in2 + " > /dev/null", Needs: []string{"parallel"}, Runs: 1},
		Case{Name: "parallel -k -j2 echo {}", Shell: "parallel -k -j2 echo {} < " + in2 + " > /dev/null", Needs: []string{"parallel"}, Runs: 1},
		Case{Name: "rush -k -j2 echo {}", Shell: "rush -k -j 2 'echo {}' < " + in2 + " > /dev/null", Needs: []string{"rush"}},
	); err != nil {
		return err
	}
	var rows []Row
	if !b.Have("/usr/bin/time") {
		fmt.Println("  (skipped peak RSS: /usr/bin/time not installed)")
		return nil
	}
	// 10x the items: the peak must not grow with them.
	for _, n := range []int{1000, 10000} {
		for _, flags := range []string{"-j2", "-k -j2"} {
			kb, err := peakRSS(fmt.Sprintf("seq %d | /usr/bin/time -v ppool %s echo {} 2>&1 >/dev/null", n, flags))
			if err != nil {
				return err
			}
			rows = append(rows, Row{Name: fmt.Sprintf("ppool %s echo {}, %d items", flags, n), Samples: []float64{kb / 1024}, Unit: "MiB", Note: "peak RSS (GNU time -v)"})
		}
	}
	b.Report("peak RSS of ppool", rows...)
	return nil
}

var maxRSS = regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)

// peakRSS runs a pipeline whose stdout is GNU time's report.
func peakRSS(pipeline string) (float64, error) {
	out, err := exec.Command("sh", "-c", pipeline).Output()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", pipeline, err)
	}
	m := maxRSS.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("%s: no RSS in GNU time's output", pipeline)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
