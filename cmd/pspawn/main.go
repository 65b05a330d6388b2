// Pspawn starts a command in the background, supervised, with its exit
// status recorded for pjoin.
package main

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/pspawn"
)

func main() { os.Exit(pspawn.Main(os.Args[1:])) }
