package shm

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// TypeCode is an element type as stored in the header (offset 11).
type TypeCode uint8

// Element types. Numbers are little-endian two's complement or IEEE 754;
// bytes:N and str:N are N raw bytes (str: UTF-8, NUL-padded).
const (
	I8 TypeCode = 1 + iota
	I16
	I32
	I64
	U8
	U16
	U32
	U64
	F32
	F64
	Bytes
	Str
)

var typeNames = [...]string{I8: "i8", I16: "i16", I32: "i32", I64: "i64", U8: "u8", U16: "u16", U32: "u32", U64: "u64", F32: "f32", F64: "f64", Bytes: "bytes", Str: "str"}

// MaxStrSize bounds bytes:N and str:N.
const MaxStrSize = 1 << 20

// typeAliases maps Python's array/ctypes typecodes and spelled-out names to
// pkit types (on 64-bit Linux a C long is 64 bits).
var typeAliases = map[string]string{
	"b": "i8", "h": "i16", "i": "i32", "l": "i64", "q": "i64",
	"B": "u8", "H": "u16", "I": "u32", "L": "u64", "Q": "u64",
	"f": "f32", "d": "f64", "c": "str:1",
	"int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
	"uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
	"float32": "f32", "float64": "f64", "float": "f32", "double": "f64",
}

// Type is an element type with its size in bytes.
type Type struct {
	Code TypeCode
	Size int
}

// ParseType parses i8 … u64, f32, f64, bytes:N, str:N, or a Python
// typecode (b h i l q B H I L Q f d c).
func ParseType(s string) (Type, error) {
	if a, ok := typeAliases[s]; ok {
		s = a
	}
	name, size, sized := strings.Cut(s, ":")
	for code, n := range typeNames {
		if n == "" || n != name {
			continue
		}
		t := Type{Code: TypeCode(code)}
		if t.IsString() {
			if !sized {
				return Type{}, fmt.Errorf("type %s needs a size, e.g. %s:16", name, name)
			}
			sz, err := strconv.Atoi(size)
			if err != nil || sz < 1 || sz > MaxStrSize {
				return Type{}, fmt.Errorf("invalid size in type %q (want 1..%d)", s, MaxStrSize)
			}
			t.Size = sz
			return t, nil
		}
		if sized {
			return Type{}, fmt.Errorf("type %s takes no size", name)
		}
		t.Size = t.numSize()
		return t, nil
	}
	return Type{}, fmt.Errorf("unknown type %q (want i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 bytes:N str:N, or a Python typecode b h i l q B H I L Q f d c)", s)
}

func (t Type) numSize() int {
	switch t.Code {
	case I8, U8:
		return 1
	case I16, U16:
		return 2
	case I32, U32, F32:
		return 4
	case I64, U64, F64:
		return 8
	}
	return 0
}

func (t Type) check() error {
	if t.Code < I8 || t.Code > Str {
		return fmt.Errorf("unknown type code %d", t.Code)
	}
	if t.IsString() {
		if t.Size < 1 || t.Size > MaxStrSize {
			return fmt.Errorf("bad size %d", t.Size)
		}
	} else if t.Size != t.numSize() {
		return fmt.Errorf("bad size %d for %s", t.Size, t)
	}
	return nil
}

func (t Type) String() string {
	if int(t.Code) >= len(typeNames) || t.Code == 0 {
		return fmt.Sprintf("type%d", t.Code)
	}
	if t.IsString() {
		return fmt.Sprintf("%s:%d", typeNames[t.Code], t.Size)
	}
	return typeNames[t.Code]
}

// IsString reports bytes:N and str:N.
func (t Type) IsString() bool { return t.Code == Bytes || t.Code == Str }

// IsFloat reports f32 and f64.
func (t Type) IsFloat() bool { return t.Code == F32 || t.Code == F64 }

// IsSigned reports the signed integer types.
func (t Type) IsSigned() bool { return t.Code >= I8 && t.Code <= I64 }

// Numpy is the numpy dtype of an element, for attaching from Python.
func (t Type) Numpy() string {
	switch t.Code {
	case Bytes, Str:
		return fmt.Sprintf("S%d", t.Size)
	case F32, F64:
		return fmt.Sprintf("<f%d", t.Size)
	case I8, I16, I32, I64:
		return fmt.Sprintf("<i%d", t.Size)
	}
	return fmt.Sprintf("<u%d", t.Size)
}

// Struct is the Python struct module format of an element.
func (t Type) Struct() string {
	switch t.Code {
	case Bytes, Str:
		return fmt.Sprintf("<%ds", t.Size)
	}
	return "<" + structCodes[t.Code]
}

var structCodes = map[TypeCode]string{I8: "b", I16: "h", I32: "i", I64: "q", U8: "B", U16: "H", U32: "I", U64: "Q", F32: "f", F64: "d"}

// Value is one element: Bits for numbers (zero-extended), Raw for strings.
type Value struct {
	Type Type
	Bits uint64
	Raw  []byte
}

func (t Type) bits() uint { return uint(t.Size) * 8 }

func (t Type) mask() uint64 {
	if t.Size == 8 {
		return math.MaxUint64
	}
	return 1<<t.bits() - 1
}

// ParseValue parses s as an element of type t. Integers accept 0x, 0o and
// 0b prefixes; bytes:N takes hex; str:N takes UTF-8 of at most N bytes.
func ParseValue(t Type, s string) (Value, error) {
	v := Value{Type: t}
	switch {
	case t.Code == Str:
		if len(s) > t.Size {
			return v, fmt.Errorf("%q is %d bytes, longer than %s", s, len(s), t)
		}
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return v, fmt.Errorf("%q is not valid text for %s", s, t)
		}
		v.Raw = []byte(s)
	case t.Code == Bytes:
		b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
		if err != nil {
			return v, fmt.Errorf("%q is not hex for %s", s, t)
		}
		if len(b) > t.Size {
			return v, fmt.Errorf("%d bytes do not fit in %s", len(b), t)
		}
		v.Raw = b
	case t.IsFloat():
		f, err := strconv.ParseFloat(s, int(t.bits()))
		if err != nil {
			return v, fmt.Errorf("%q is not a number of type %s", s, t)
		}
		if t.Code == F32 {
			v.Bits = uint64(math.Float32bits(float32(f)))
		} else {
			v.Bits = math.Float64bits(f)
		}
	case t.IsSigned():
		n, err := strconv.ParseInt(s, 0, int(t.bits()))
		if err != nil {
			return v, fmt.Errorf("%q is not a number of type %s%s", s, t, rangeHint(err))
		}
		v.Bits = uint64(n) & t.mask()
	default:
		n, err := strconv.ParseUint(s, 0, int(t.bits()))
		if err != nil {
			return v, fmt.Errorf("%q is not a number of type %s%s", s, t, rangeHint(err))
		}
		v.Bits = n
	}
	return v, nil
}

func rangeHint(err error) string {
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return " (out of range)"
	}
	return ""
}

// ParseDelta parses the amount for Add: a number of t's kind, negative
// allowed for unsigned types (integers wrap around, as C atomics do).
func ParseDelta(t Type, s string) (Value, error) {
	if t.IsString() {
		return Value{}, fmt.Errorf("cannot add to %s", t)
	}
	if t.IsFloat() {
		return ParseValue(t, s)
	}
	v := Value{Type: t}
	if n, err := strconv.ParseInt(s, 0, 64); err == nil {
		lim := int64(t.mask() >> 1)
		if t.Size == 8 {
			lim = math.MaxInt64
		}
		if !t.IsSigned() && t.Size < 8 {
			lim = int64(t.mask())
		}
		if n > lim || n < -lim-1 {
			return v, fmt.Errorf("delta %s out of range for %s", s, t)
		}
		v.Bits = uint64(n) & t.mask()
		return v, nil
	}
	if !t.IsSigned() {
		n, err := strconv.ParseUint(s, 0, int(t.bits()))
		if err == nil {
			v.Bits = n
			return v, nil
		}
	}
	return v, fmt.Errorf("%q is not a number for %s", s, t)
}

// Int returns a signed integer's value, sign-extended.
func (v Value) Int() int64 {
	sh := 64 - v.Type.bits()
	return int64(v.Bits<<sh) >> sh
}

// Float returns a float's value.
func (v Value) Float() float64 {
	if v.Type.Code == F32 {
		return float64(math.Float32frombits(uint32(v.Bits)))
	}
	return math.Float64frombits(v.Bits)
}

// String formats v as pshm prints it.
func (v Value) String() string {
	switch {
	case v.Type.Code == Str:
		if i := bytes.IndexByte(v.Raw, 0); i >= 0 {
			return string(v.Raw[:i])
		}
		return string(v.Raw)
	case v.Type.Code == Bytes:
		return hex.EncodeToString(v.Raw)
	case v.Type.IsFloat():
		return strconv.FormatFloat(v.Float(), 'g', -1, int(v.Type.bits()))
	case v.Type.IsSigned():
		return strconv.FormatInt(v.Int(), 10)
	}
	return strconv.FormatUint(v.Bits, 10)
}

// JSON returns v for encoding/json: a number, or a string for text, hex
// bytes and non-finite floats.
func (v Value) JSON() any {
	switch {
	case v.Type.IsString():
		return v.String()
	case v.Type.IsFloat():
		if f := v.Float(); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
		return v.String()
	case v.Type.IsSigned():
		return v.Int()
	}
	return v.Bits
}

// Compare returns -1, 0 or +1 as a is less than, equal to or greater than
// b (same type). NaN compares unequal to everything (2).
func Compare(a, b Value) int {
	switch {
	case a.Type.IsString():
		return strings.Compare(a.String(), b.String())
	case a.Type.IsFloat():
		x, y := a.Float(), b.Float()
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		case x == y:
			return 0
		}
		return 2
	case a.Type.IsSigned():
		x, y := a.Int(), b.Int()
		if x < y {
			return -1
		} else if x > y {
			return 1
		}
		return 0
	}
	if a.Bits < b.Bits {
		return -1
	} else if a.Bits > b.Bits {
		return 1
	}
	return 0
}

// Cond is a comparison for Wait: an operator and a value.
type Cond struct {
	Op  string // == != < <= > >=
	Val Value
}

// CondOps are the operators Cond accepts, with their word spellings.
var CondOps = map[string]string{"==": "==", "=": "==", "eq": "==", "!=": "!=", "ne": "!=", "<": "<", "lt": "<", "<=": "<=", "le": "<=", ">": ">", "gt": ">", ">=": ">=", "ge": ">="}

// Holds reports whether v satisfies c.
func (c Cond) Holds(v Value) bool {
	r := Compare(v, c.Val)
	switch c.Op {
	case "==":
		return r == 0
	case "!=":
		return r != 0
	case "<":
		return r == -1
	case "<=":
		return r == -1 || r == 0
	case ">":
		return r == 1
	case ">=":
		return r == 1 || r == 0
	}
	return false
}
