// Pjoin waits for processes, children or not, and reports their exit
// codes; it also inspects, terminates and forgets pspawn's jobs.
package main

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/pjoin"
)

func main() { os.Exit(pjoin.Main(os.Args[1:])) }
