package ppool

import "testing"

func TestChooseShell(t *testing.T) {
	fn := map[string]string{"BASH_FUNC_f%%": "() {  echo f\n}", "BASH_FUNC_old()": "() {  :\n}"}
	for _, tc := range []struct {
		flag  string
		words []string
		env   map[string]string
		want  string
	}{
		{"", []string{"echo", "{}"}, nil, ""},
		{"", []string{"echo {} | wc"}, nil, "sh"},
		{"", []string{"echo {} | wc"}, map[string]string{"SHELL": "/bin/bash"}, "sh"}, // $SHELL is not the default
		{"", []string{"echo {} | wc"}, map[string]string{"PARALLEL_SHELL": "dash"}, "dash"},
		{"", []string{"f"}, fn, "bash"},
		{"", []string{"f", "{}"}, fn, "bash"},
		{"", []string{"f {} | wc"}, fn, "bash"},
		{"", []string{"old"}, fn, "bash"},
		{"", []string{"g"}, fn, ""},
		{"", []string{"./f"}, fn, ""},
		{"", []string{"f"}, map[string]string{"BASH_FUNC_f%%": "x", "SHELL": "/usr/local/bin/bash"}, "/usr/local/bin/bash"},
		{"", []string{"f"}, map[string]string{"BASH_FUNC_f%%": "x", "SHELL": "/bin/zsh"}, "bash"},
		{"", []string{"f"}, map[string]string{"BASH_FUNC_f%%": "x", "PARALLEL_SHELL": "/bin/bash5"}, "/bin/bash5"},
		{"zsh", []string{"echo", "{}"}, map[string]string{"PARALLEL_SHELL": "dash"}, "zsh"}, // the flag wins
		{"/bin/sh", []string{"echo"}, nil, "/bin/sh"},
	} {
		got, err := chooseShell(tc.flag, tc.words, func(k string) string { return tc.env[k] })
		if err != nil || got != tc.want {
			t.Errorf("chooseShell(%q, %q, %v) = %q, %v; want %q", tc.flag, tc.words, tc.env, got, err, tc.want)
		}
	}
	if _, err := chooseShell("echo {}", []string{"x"}, func(string) string { return "" }); err == nil {
		t.Error("--shell 'echo {}' (a script, not a shell) was accepted")
	}
}
