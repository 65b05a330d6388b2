// Ptree shows the process tree with each process's state code.
package main

import (
	"os"

	"github.com/pkit-sh/pkit/pkg/ptree"
)

func main() { os.Exit(ptree.Main(os.Args[1:])) }
