package proc

import (
	"os"
	"strconv"
)

// ReadStat reads and parses /proc/PID/stat. A missing process gives an
// error satisfying errors.Is(err, fs.ErrNotExist).
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}
