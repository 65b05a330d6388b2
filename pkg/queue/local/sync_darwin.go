package local

import "os"

// datasync makes f's data durable (fsync; macOS has no fdatasync).
func datasync(f *os.File) error { return f.Sync() }
