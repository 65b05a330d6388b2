package natsstate

import (
	"testing"
)

// FuzzDecodeDoc feeds what any client of the bucket could have written:
// decoding refuses it or gives an object whose contents can be read.
func FuzzDecodeDoc(f *testing.F) {
	for _, s := range []string{
		`{"kind":"value","type":"i64","len":2,"vals":[{"b":1},{}]}`,
		`{"kind":"value","type":"str:4","len":1,"vals":[{"r":"aGk="}]}`,
		`{"kind":"dict","len":256,"key_size":64,"value_size":1024,"items":{"k":"v"}}`,
		`{"kind":"barrier","len":3,"waiting":1,"gen":7}`,
		`{"kind":"value","type":"f32","len":3,"vals":[{}]}`,
		`{"kind":"nope"}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDoc("x", b)
		if err != nil {
			return
		}
		ob := d.object("x")
		for _, v := range ob.Values {
			_ = v.String()
			_ = v.JSON()
		}
	})
}
