package pspawn

import (
	"bufio"
	"bytes"
	"io"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// fill gives every field of v a value of its own, slices two elements: a
// field of a kind the wire format does not carry fails the round trip.
func fill(v reflect.Value, n *int) {
	*n++
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(time.Unix(int64(*n)*1e6, int64(*n)).UTC()))
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	case v.Kind() == reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0), n)
		fill(v.Index(1), n)
	case v.Kind() == reflect.String:
		v.SetString("s\x00é\n" + strconv.Itoa(*n))
	case v.Kind() == reflect.Bool:
		v.SetBool(true)
	case v.CanInt():
		v.SetInt(-int64(*n) << 40)
	case v.CanUint():
		v.SetUint(uint64(*n) << 40)
	}
}

func TestSpecWire(t *testing.T) {
	var sp spec
	n := 0
	fill(reflect.ValueOf(&sp).Elem(), &n)
	for _, in := range []*spec{{}, &sp} {
		var buf bytes.Buffer
		if err := writeWire(&buf, in); err != nil {
			t.Fatal(err)
		}
		var out spec
		if err := readWire(bufio.NewReader(&buf), &out); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*in, out) {
			t.Errorf("round trip:\n got %+v\nwant %+v", out, *in)
		}
	}
	var buf bytes.Buffer
	writeWire(&buf, &sp)
	for i := 0; i < buf.Len(); i += 7 {
		var out spec
		err := readWire(bufio.NewReader(bytes.NewReader(buf.Bytes()[:i])), &out)
		if want := io.ErrUnexpectedEOF; i == 0 && err != io.EOF || i > 0 && err != want {
			t.Errorf("a spec cut at byte %d of %d: %v", i, buf.Len(), err)
		}
	}
	// Reports follow one another on the pipe until its end.
	buf.Reset()
	sts := []started{{ID: "j1", PID: 7, StartTime: 1 << 40, Log: "l"}, {ID: "j2", Error: "e", Status: 127}}
	for i := range sts {
		writeWire(&buf, &sts[i])
	}
	var got []started
	for r := bufio.NewReader(&buf); ; {
		var st started
		if err := readWire(r, &st); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		got = append(got, st)
	}
	if !reflect.DeepEqual(got, sts) {
		t.Errorf("reports: got %+v, want %+v", got, sts)
	}
}

// FuzzReadWire: any bytes read as a spec give a spec or an error, never
// a panic.
func FuzzReadWire(f *testing.F) {
	var sp spec
	n := 0
	fill(reflect.ValueOf(&sp).Elem(), &n)
	var buf bytes.Buffer
	writeWire(&buf, &sp)
	f.Add(buf.Bytes())
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var out spec
		readWire(bufio.NewReader(bytes.NewReader(b)), &out)
	})
}
