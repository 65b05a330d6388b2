package shm

import (
	"math"
	"testing"
)

func TestParseType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		size int
	}{
		{"i8", "i8", 1}, {"u16", "u16", 2}, {"i32", "i32", 4}, {"u64", "u64", 8}, {"f32", "f32", 4}, {"f64", "f64", 8},
		{"q", "i64", 8}, {"B", "u8", 1}, {"d", "f64", 8}, {"c", "str:1", 1}, {"I", "u32", 4}, {"l", "i64", 8},
		{"str:16", "str:16", 16}, {"bytes:3", "bytes:3", 3}, {"double", "f64", 8},
	} {
		ty, err := ParseType(tc.in)
		if err != nil || ty.String() != tc.want || ty.Size != tc.size {
			t.Errorf("ParseType(%q) = %v (%d), %v; want %s (%d)", tc.in, ty, ty.Size, err, tc.want, tc.size)
		}
	}
	for _, bad := range []string{"", "i128", "str", "str:0", "str:x", "i32:4", "bytes:-1", "z"} {
		if _, err := ParseType(bad); err == nil {
			t.Errorf("ParseType(%q) accepted", bad)
		}
	}
}

func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		typ, in, out string
	}{
		{"i8", "-128", "-128"}, {"i8", "127", "127"}, {"u8", "255", "255"}, {"u8", "0x10", "16"},
		{"i16", "-2", "-2"}, {"i32", "-2147483648", "-2147483648"}, {"u32", "4294967295", "4294967295"},
		{"i64", "-9223372036854775808", "-9223372036854775808"}, {"u64", "18446744073709551615", "18446744073709551615"},
		{"f32", "0.1", "0.1"}, {"f64", "-2.5e-3", "-0.0025"}, {"f64", "inf", "+Inf"},
		{"str:5", "héllo"[:5], "héll"}, {"bytes:2", "0a0b", "0a0b"}, {"bytes:2", "ff", "ff00"},
	} {
		ty, _ := ParseType(tc.typ)
		v, err := ParseValue(ty, tc.in)
		if err != nil {
			t.Errorf("ParseValue(%s, %q): %v", tc.typ, tc.in, err)
			continue
		}
		if ty.Code == Bytes { // stored padded
			raw := make([]byte, ty.Size)
			copy(raw, v.Raw)
			v.Raw = raw
		}
		if got := v.String(); got != tc.out {
			t.Errorf("ParseValue(%s, %q) prints %q, want %q", tc.typ, tc.in, got, tc.out)
		}
	}
	for _, tc := range []struct{ typ, in string }{
		{"i8", "128"}, {"i8", "-129"}, {"u8", "256"}, {"u8", "-1"}, {"i32", "1.5"}, {"i64", ""}, {"f64", "1x"},
		{"str:2", "abc"}, {"bytes:1", "zz"}, {"bytes:1", "0102"}, {"u64", "18446744073709551616"},
	} {
		ty, _ := ParseType(tc.typ)
		if _, err := ParseValue(ty, tc.in); err == nil {
			t.Errorf("ParseValue(%s, %q) accepted", tc.typ, tc.in)
		}
	}
}

func TestParseDelta(t *testing.T) {
	u8, _ := ParseType("u8")
	d, err := ParseDelta(u8, "-1")
	if err != nil || d.Bits != 0xff {
		t.Errorf("u8 delta -1 = %#x, %v", d.Bits, err)
	}
	if _, err := ParseDelta(u8, "256"); err == nil {
		t.Error("u8 delta 256 accepted")
	}
	u64, _ := ParseType("u64")
	if d, err := ParseDelta(u64, "18446744073709551615"); err != nil || d.Bits != math.MaxUint64 {
		t.Errorf("u64 max delta: %v %v", d, err)
	}
	s, _ := ParseType("str:4")
	if _, err := ParseDelta(s, "1"); err == nil {
		t.Error("delta for a string accepted")
	}
}

func TestCond(t *testing.T) {
	i, _ := ParseType("i32")
	v := func(s string) Value { x, _ := ParseValue(i, s); return x }
	for _, tc := range []struct {
		op   string
		a, b string
		want bool
	}{
		{">=", "5", "5", true}, {">", "5", "5", false}, {"<", "-1", "0", true}, {"!=", "3", "3", false}, {"==", "-7", "-7", true}, {"<=", "2", "1", false},
	} {
		if got := (Cond{Op: tc.op, Val: v(tc.b)}).Holds(v(tc.a)); got != tc.want {
			t.Errorf("%s %s %s = %v", tc.a, tc.op, tc.b, got)
		}
	}
	f, _ := ParseType("f64")
	nan, _ := ParseValue(f, "nan")
	if (Cond{Op: "==", Val: nan}).Holds(nan) || (Cond{Op: "<=", Val: nan}).Holds(nan) {
		t.Error("NaN compared equal")
	}
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"1", "-1", "0x7f", "1e308", "nan", "abc", "ff", "héllo"} {
		f.Add(uint8(I32), 4, s)
	}
	f.Fuzz(func(t *testing.T, code uint8, size int, s string) {
		ty := Type{Code: TypeCode(code%uint8(Str) + 1), Size: size%64 + 1}
		if ty.check() != nil {
			ty.Size = ty.numSize()
		}
		v, err := ParseValue(ty, s)
		if err != nil {
			return
		}
		if ty.IsString() {
			if len(v.Raw) > ty.Size {
				t.Fatalf("%q: %d bytes in %s", s, len(v.Raw), ty)
			}
			return
		}
		if v.Bits&^ty.mask() != 0 {
			t.Fatalf("%q: bits %#x wider than %s", s, v.Bits, ty)
		}
		// what we print parses back to the same bits (NaN payloads aside)
		back, err := ParseValue(ty, v.String())
		if err != nil || back.Bits != v.Bits && !(ty.IsFloat() && math.IsNaN(v.Float())) {
			t.Fatalf("%q → %q → %#x, %v (want %#x)", s, v.String(), back.Bits, err, v.Bits)
		}
	})
}

// FuzzValidate feeds arbitrary bytes as an object's header: validate must
// reject or accept without panicking, and an accepted header's data must
// fit in the file.
func FuzzValidate(f *testing.F) {
	good := make([]byte, HeaderSize+8)
	Spec{Kind: KindValue, Type: Type{Code: I64, Size: 8}, Len: 1}.header(good, 8, 8)
	f.Add(good)
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		if validate("x", b, int64(len(b))) != nil {
			return
		}
		o := &Object{Name: "x", mem: b}
		if HeaderSize+o.DataSize() > len(b) || o.ElemSize()*o.Len() > o.DataSize() && o.Kind() != KindEvent && o.Kind() != KindBarrier {
			t.Fatalf("accepted a header whose data does not fit: %d elements of %d in %d bytes", o.Len(), o.ElemSize(), len(b))
		}
	})
}
