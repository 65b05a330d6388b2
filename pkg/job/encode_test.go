package job

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestAppendJSON: a record written by appendJSON reads back as the one
// json.Marshal writes, with the same keys: every field set (through
// reflection, so that a new field fails here until appendJSON writes it),
// none set, and strings json must escape or repair.
func TestAppendJSON(t *testing.T) {
	full := &Record{}
	v := reflect.ValueOf(full).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() {
			continue // not written: where the record was read from
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(v.Type().Field(i).Name)
		case reflect.Int, reflect.Uint64:
			if f.CanInt() {
				f.SetInt(int64(-i - 1))
			} else {
				f.SetUint(uint64(i + 1))
			}
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"a", "b c"}))
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Struct: // time.Time
		default:
			t.Fatalf("field %s: kind %s not covered", v.Type().Field(i).Name, f.Kind())
		}
	}
	end := time.Date(2026, 12, 3, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	full.Started, full.Ended = time.Now(), &end
	code := 0
	weird := &Record{ID: "j1", Cmd: []string{}, ExitCode: &code, Started: time.Unix(0, 0),
		Name: "q\"b\\s/\n\r\t\x00\x1f\x7f é 漢 \U0001F600 \u2028 <&>", Cwd: "bad \xff\xfe utf8 \xe2\x82", Log: strings.Repeat("x", 300)}
	for _, r := range []*Record{{}, full, weird} {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got := r.appendJSON(nil)
		var wantRec, gotRec Record
		var wantMap, gotMap map[string]any
		for _, u := range []struct {
			b []byte
			v any
		}{{want, &wantRec}, {got, &gotRec}, {want, &wantMap}, {got, &gotMap}} {
			if err := json.Unmarshal(u.b, u.v); err != nil {
				t.Fatalf("%s: %v", u.b, err)
			}
		}
		if !reflect.DeepEqual(gotRec, wantRec) || !reflect.DeepEqual(gotMap, wantMap) {
			t.Errorf("appendJSON:\n%s\njson.Marshal:\n%s", got, want)
		}
	}
}
