package ptree

import (
	"bufio"
	"fmt"

	"github.com/pkit-sh/pkit/pkg/proc"
)

// legend writes what each state letter and modifier means (--states).
func legend(w *bufio.Writer) {
	for _, s := range proc.States {
		fmt.Fprintf(w, "%c\t%s\t%s\n", s.Letter, s.Name, s.About)
	}
	w.WriteString("\nmodifiers, after the letter:\n")
	for _, m := range proc.Modifiers {
		fmt.Fprintf(w, "%c\t%s\t%s\n", m.Letter, m.Name, m.About)
	}
}

// stateColor returns the SGR parameters the letter is drawn with on a
// terminal: trouble (D, Z, X) stands out, idle and sleeping stay plain.
func stateColor(letter byte) string {
	switch letter {
	case 'R':
		return "32" // green
	case 'D':
		return "1;33" // bold yellow
	case 'T', 't':
		return "35" // magenta
	case 'Z', 'X':
		return "1;31" // bold red
	case 'I':
		return "2" // dim
	}
	return ""
}
