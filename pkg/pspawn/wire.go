package pspawn

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"
)

// The spec goes from pspawn to its supervisor, the same binary, and the
// supervisor's reports come back, as their fields in the order they are
// declared, without names: an integer or a length as a varint, a bool as
// one, a string or slice as its length and then its bytes or elements, a
// struct as its fields, a time.Time as its binary form. encoding/json
// would do, but its per-type caches cost the supervisor, which lives as
// long as its job, some 50 KiB of its 1 MiB.

var timeType = reflect.TypeFor[time.Time]()

// writeWire writes *v (a struct) to w in one write.
func writeWire(w io.Writer, v any) error {
	b, err := appendValue(nil, reflect.ValueOf(v).Elem())
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// readWire reads what writeWire wrote into *v; io.EOF if r is at its
// end, io.ErrUnexpectedEOF if it ends in the middle of a value.
func readWire(r *bufio.Reader, v any) error {
	if _, err := r.Peek(1); err != nil {
		return err
	}
	err := getValue(r, reflect.ValueOf(v).Elem())
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func appendValue(b []byte, v reflect.Value) ([]byte, error) {
	switch {
	case v.Type() == timeType:
		t, err := v.Interface().(time.Time).MarshalBinary()
		if err != nil {
			return nil, err
		}
		return append(binary.AppendVarint(b, int64(len(t))), t...), nil
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			var err error
			if b, err = appendValue(b, v.Field(i)); err != nil {
				return nil, err
			}
		}
		return b, nil
	case v.Kind() == reflect.Slice:
		b = binary.AppendVarint(b, int64(v.Len()))
		for i := range v.Len() {
			var err error
			if b, err = appendValue(b, v.Index(i)); err != nil {
				return nil, err
			}
		}
		return b, nil
	case v.Kind() == reflect.String:
		return append(binary.AppendVarint(b, int64(v.Len())), v.String()...), nil
	case v.Kind() == reflect.Bool:
		if v.Bool() {
			return binary.AppendVarint(b, 1), nil
		}
		return binary.AppendVarint(b, 0), nil
	case v.CanInt():
		return binary.AppendVarint(b, v.Int()), nil
	case v.CanUint():
		return binary.AppendUvarint(b, v.Uint()), nil
	}
	return nil, fmt.Errorf("pspawn: cannot send a %s", v.Type())
}

// errLength is a length that cannot be right.
var errLength = errors.New("pspawn: bad length")

func getValue(r *bufio.Reader, v reflect.Value) error {
	// Beyond 64 KiB what is allocated grows with what is read, not with a
	// length announced, so that bytes cut short fail without a large
	// allocation.
	getBytes := func() ([]byte, error) {
		n, err := binary.ReadVarint(r)
		if err != nil {
			return nil, err
		}
		if n < 0 || n > 1<<30 {
			return nil, errLength
		}
		if n <= 1<<16 {
			b := make([]byte, n)
			_, err = io.ReadFull(r, b)
			return b, err
		}
		b, err := io.ReadAll(io.LimitReader(r, n))
		if err == nil && int64(len(b)) < n {
			err = io.ErrUnexpectedEOF
		}
		return b, err
	}
	switch {
	case v.Type() == timeType:
		b, err := getBytes()
		if err != nil {
			return err
		}
		return v.Addr().Interface().(*time.Time).UnmarshalBinary(b)
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if err := getValue(r, v.Field(i)); err != nil {
				return err
			}
		}
		return nil
	case v.Kind() == reflect.Slice:
		n, err := binary.ReadVarint(r)
		if err != nil || n == 0 {
			return err
		}
		if n < 0 || n > 1<<30 {
			return errLength
		}
		zero := reflect.Zero(v.Type().Elem())
		for i := range int(n) {
			v.Set(reflect.Append(v, zero))
			if err := getValue(r, v.Index(i)); err != nil {
				return err
			}
		}
		return nil
	case v.Kind() == reflect.String:
		b, err := getBytes()
		if err == nil {
			v.SetString(string(b))
		}
		return err
	case v.CanUint():
		n, err := binary.ReadUvarint(r)
		if err == nil {
			v.SetUint(n)
		}
		return err
	}
	n, err := binary.ReadVarint(r)
	if err != nil {
		return err
	}
	switch {
	case v.Kind() == reflect.Bool:
		v.SetBool(n != 0)
	case v.CanInt():
		v.SetInt(n)
	default:
		return fmt.Errorf("pspawn: cannot receive a %s", v.Type())
	}
	return nil
}
