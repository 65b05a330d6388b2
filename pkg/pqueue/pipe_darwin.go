package pqueue

import "os"

// growPipe reports whether the pipe written by w holds n bytes: macOS
// cannot be asked for more than its small default buffer.
func growPipe(w *os.File, n int) bool { return n <= 8<<10 }
