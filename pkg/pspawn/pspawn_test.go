package pspawn

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pkit-sh/pkit/pkg/cli"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	plain := filepath.Join(dir, "data")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(plain, []byte("x"), 0o644)
	env := []string{"PATH=" + dir}
	for _, tc := range []struct {
		name, cwd string
		want      string
		code      int
	}{
		{"tool", "", exe, 0},
		{exe, "", exe, 0},
		{"./tool", dir, filepath.Join(dir, "tool"), 0},
		{"missing", "", "", cli.ExitNotFound},
		{"./missing", dir, "", cli.ExitNotFound},
		{plain, "", "", cli.ExitNotExec},
		{"data", "", "", cli.ExitNotExec},
		{dir, "", "", cli.ExitNotExec},
	} {
		got, err := resolve(tc.name, tc.cwd, env)
		var ee *cli.ExitError
		code := 0
		if errors.As(err, &ee) {
			code = ee.Code
		}
		if got != tc.want || code != tc.code {
			t.Errorf("resolve(%q, %q) = %q, %v; want %q, status %d", tc.name, tc.cwd, got, err, tc.want, tc.code)
		}
	}
}

func TestPlanCopiesAndNames(t *testing.T) {
	t.Setenv("PKIT_PSPAWN_INTERNAL", "leak")
	c := &CLI{Copies: 3, Name: ptr("w"), Signal: "TERM", Env: []string{"A=1"}, Cmd: []string{"--", "echo", "n{#}"}}
	sp, err := c.plan()
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.Jobs) != 3 || sp.Jobs[2].Name != "w.3" || !slices.Equal(sp.Jobs[1].Argv, []string{"echo", "n2"}) {
		t.Errorf("jobs %+v", sp.Jobs)
	}
	if !slices.Contains(sp.Env, "A=1") || slices.ContainsFunc(sp.Env, func(kv string) bool { return kv == "PKIT_PSPAWN_INTERNAL=leak" }) {
		t.Errorf("env %q", sp.Env)
	}
	for _, bad := range []*CLI{
		{Copies: 1, Signal: "TERM"},
		{Copies: 0, Signal: "TERM", Cmd: []string{"true"}},
		{Copies: 1, Signal: "TERM", Daemon: true, Detach: true, Cmd: []string{"true"}},
		{Copies: 1, Signal: "NOPE", Cmd: []string{"true"}},
		{Copies: 1, Signal: "TERM", Name: ptr("a/b"), Cmd: []string{"true"}},
		{Copies: 1, Signal: "TERM", Name: ptr("j7"), Cmd: []string{"true"}},
		{Copies: 1, Signal: "TERM", Name: ptr(""), Cmd: []string{"true"}},
		{Copies: 1, Signal: "TERM", Env: []string{"novalue"}, Cmd: []string{"true"}},
	} {
		if _, err := bad.plan(); err == nil {
			t.Errorf("plan(%+v): want an error", bad)
		}
	}
}

func ptr(s string) *string { return &s }
