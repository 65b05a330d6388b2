package job

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends r as encoding/json writes it (json.Unmarshal reads
// it back the same), without its per-type caches: the supervisor that
// writes a job's records lives as long as the job, and those caches cost
// it some 50 KiB of its 1 MiB. TestAppendJSON checks every field.
func (r *Record) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, r.ID)
	if r.Name != "" {
		b = appendString(append(b, `,"name":`...), r.Name)
	}
	b = strconv.AppendInt(append(b, `,"pid":`...), int64(r.PID), 10)
	if r.PGID != 0 {
		b = strconv.AppendInt(append(b, `,"pgid":`...), int64(r.PGID), 10)
	}
	b = strconv.AppendUint(append(b, `,"start_time":`...), r.StartTime, 10)
	if r.BootID != "" {
		b = appendString(append(b, `,"boot_id":`...), r.BootID)
	}
	b = append(b, `,"cmd":`...)
	if r.Cmd == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, a := range r.Cmd {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, a)
		}
		b = append(b, ']')
	}
	if r.Cwd != "" {
		b = appendString(append(b, `,"cwd":`...), r.Cwd)
	}
	if r.Log != "" {
		b = appendString(append(b, `,"log":`...), r.Log)
	}
	if r.Supervisor != 0 {
		b = strconv.AppendInt(append(b, `,"supervisor":`...), int64(r.Supervisor), 10)
	}
	if r.SupervisorStart != 0 {
		b = strconv.AppendUint(append(b, `,"supervisor_start":`...), r.SupervisorStart, 10)
	}
	b = appendTime(append(b, `,"started":`...), r.Started)
	if r.Ended != nil {
		b = appendTime(append(b, `,"ended":`...), *r.Ended)
	}
	b = appendString(append(b, `,"state":`...), r.State)
	b = append(b, `,"exit_code":`...)
	if r.ExitCode == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(*r.ExitCode), 10)
	}
	if r.Signal != 0 {
		b = strconv.AppendInt(append(b, `,"signal":`...), int64(r.Signal), 10)
	}
	if r.TimedOut {
		b = append(b, `,"timed_out":true`...)
	}
	if r.Restart != "" {
		b = appendString(append(b, `,"restart":`...), r.Restart)
	}
	if r.Runs != 0 {
		b = strconv.AppendInt(append(b, `,"runs":`...), int64(r.Runs), 10)
	}
	if r.Held {
		b = append(b, `,"held":true`...)
	}
	if r.Copied {
		b = append(b, `,"copied":true`...)
	}
	return append(b, '}')
}

// appendTime appends t as time.Time's MarshalJSON does.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString appends s as a JSON string: quotes, backslashes and
// control characters escaped, and each byte that is not UTF-8 made
// U+FFFD, as encoding/json does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
