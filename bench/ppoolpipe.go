package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

var ppoolPipeSuite = Suite{
	Name:  "ppool-pipe",
	About: "ppool --pipe/--pipepart/--round-robin -j2 wc -l on a 259 MB `seq 30000000` file against the cat | wc -l pipe floor and GNU parallel; 1000000 items with -N 100 against xargs -n100, and with -X against GNU parallel -X; peak RSS at 2 file sizes",
	Run:   benchPpoolPipe,
}

func benchPpoolPipe(b *Bench) error {
	dir := b.TempDir()
	big := filepath.Join(dir, "big")
	if err := exec.Command("sh", "-c", "seq 30000000 > "+big).Run(); err != nil {
		return err
	}
	// Issue 18: --pipe at >= 80% of the floor's speed (ratio <= 1.25x) and
	// >= 2.5x faster than parallel --pipe; --pipepart >= 2x faster than
	// parallel --pipepart.
	// Stdin redirected from the file is cut as --pipepart cuts it; through
	// cat it is a real pipe, read by ppool.
	cases := []Case{
		{Name: "cat | wc -l (pipe floor)", Shell: "cat " + big + " | wc -l > /dev/null", Base: true},
		{Name: "ppool --pipe -j2 wc -l", Shell: "ppool --pipe -j2 wc -l < " + big + " > /dev/null"},
	}
	before, rev, err := b.Before("ppool")
	if err != nil {
		return err
	}
	if before != "" {
		cases = append(cases, Case{Name: "ppool at " + rev + " --pipe -j2 wc -l", Shell: before + " --pipe -j2 wc -l < " + big + " > /dev/null"})
	}
	if err := b.Compare("wc -l of 259 MB at -j2", 0, append(cases,
		Case{Name: "cat | ppool --pipe -j2 wc -l", Shell: "cat " + big + " | ppool --pipe -j2 wc -l > /dev/null"},
		Case{Name: "ppool --pipe --block 10M -j2 wc -l", Shell: "ppool --pipe --block 10M -j2 wc -l < " + big + " > /dev/null"},
		Case{Name: "cat | ppool --pipe --block 10M -j2 wc -l", Shell: "cat " + big + " | ppool --pipe --block 10M -j2 wc -l > /dev/null"},
		Case{Name: "ppool --pipe --round-robin -j2 wc -l", Shell: "ppool --pipe --round-robin -j2 wc -l < " + big + " > /dev/null"},
		Case{Name: "ppool --pipepart -j2 wc -l", Shell: "ppool --pipepart -a " + big + " -j2 wc -l > /dev/null"},
		Case{Name: "ppool --pipepart --block 10M -j2 wc -l", Shell: "ppool --pipepart -a " + big + " --block 10M -j2 wc -l > /dev/null"},
		Case{Name: "parallel --pipe --block 10M -j2 wc -l", Shell: "parallel --pipe --block 10M -j2 wc -l < " + big + " > /dev/null", Needs: []string{"parallel"}, Runs: 3},
		Case{Name: "parallel --pipepart --block 10M -j2 wc -l", Shell: "parallel --pipepart -a " + big + " --block 10M -j2 wc -l > /dev/null", Needs: []string{"parallel"}, Runs: 3},
	)...); err != nil {
		return err
	}
	million := filepath.Join(dir, "million")
	if err := exec.Command("sh", "-c", "seq 1000000 > "+million).Run(); err != nil {
		return err
	}
	// Issue 18: -N 100 no slower than xargs -n100 (ratio <= 1.00x).
	if err := b.Compare("1000000 items, 100 per job, at -j2", 0,
		Case{Name: "xargs -P2 -n100 echo", Shell: "xargs -P2 -n100 echo < " + million + " > /dev/null", Base: true},
		Case{Name: "ppool -N 100 -j2 echo", Shell: "ppool -N 100 -j2 echo < " + million + " > /dev/null"},
		Case{Name: "parallel -N 100 -j2 echo", Shell: "parallel -N 100 -j2 echo < " + million + " > /dev/null", Needs: []string{"parallel"}, Runs: 1},
	); err != nil {
		return err
	}
	// Issue 18: -X >= 3x faster than parallel -X (its ratio >= 3.00x).
	if err := b.Compare("1000000 items, as many per job as fit, at -j2", 0,
		Case{Name: "ppool -X -j2 echo", Shell: "ppool -X -j2 echo < " + million + " > /dev/null", Base: true},
		Case{Name: "xargs -P2 echo", Shell: "xargs -P2 echo < " + million + " > /dev/null"},
		Case{Name: "parallel -X -j2 echo", Shell: "parallel -X -j2 echo < " + million + " > /dev/null", Needs: []string{"parallel"}, Runs: 3},
	); err != nil {
		return err
	}
	if !b.Have("/usr/bin/time") {
		fmt.Println("  (skipped peak RSS: /usr/bin/time not installed)")
		return nil
	}
	small := filepath.Join(dir, "small")
	if err := exec.Command("sh", "-c", "seq 3000000 > "+small).Run(); err != nil {
		return err
	}
	// 10x the input: the peak must not grow with it.
	var rows []Row
	for _, f := range []string{small, big} {
		for _, mode := range []string{"--pipe", "--pipepart"} {
			flags := mode
			if mode == "--pipepart" {
				flags += " -a " + f
			}
			kb, err := peakRSS(fmt.Sprintf("/usr/bin/time -v ppool %s -j2 wc -l < %s 2>&1 >/dev/null", flags, f))
			if err != nil {
				return err
			}
			rows = append(rows, Row{Name: fmt.Sprintf("ppool %s -j2 wc -l, %s", mode, filepath.Base(f)), Samples: []float64{kb / 1024}, Unit: "MiB", Note: "peak RSS (GNU time -v)"})
		}
	}
	b.Report("peak RSS of ppool pipe mode", rows...)
	return nil
}
