// Pkit-complete answers shell completion for every pkit tool; the scripts
// in completions/ call it, so the tools need not link completion code.
package main

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/complete"
)

func main() { os.Exit(complete.Main(os.Args[1:])) }
