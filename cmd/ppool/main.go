// Ppool runs a command for every input item, N at a time: GNU parallel's
// features at the speed of xargs.
package main

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/ppool"
)

func main() { os.Exit(ppool.Main(os.Args[1:])) }
