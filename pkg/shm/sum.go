package shm

import (
	"fmt"
	"math"
)

// Sum returns v + d with Add's arithmetic (integers wrap around at the
// type's width, float32 rounds), for backends that add outside a mapped
// object.
func Sum(v, d Value) (Value, error) {
	t := v.Type
	switch {
	case t.IsString():
		return Value{}, fmt.Errorf("cannot add to %s", t)
	case t.Code == F32:
		return Value{Type: t, Bits: uint64(math.Float32bits(float32(v.Float() + d.Float())))}, nil
	case t.IsFloat():
		return Value{Type: t, Bits: math.Float64bits(v.Float() + d.Float())}, nil
	}
	return Value{Type: t, Bits: (v.Bits + d.Bits) & t.mask()}, nil
}
