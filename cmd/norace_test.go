//go:build !race

package cmd_test

// raceEnabled: the tools under test are built with the race detector.
const raceEnabled = false
