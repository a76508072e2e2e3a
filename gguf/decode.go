package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// maxArrayDepth bounds the nesting of arrays of arrays.
const maxArrayDepth = 16

// A decoder reads little-endian GGUF primitives from buf. Every read checks
// the bytes that are left before it allocates or slices.
type decoder struct {
	buf []byte
	off int
}

func (d *decoder) left() int { return len(d.buf) - d.off }

// next returns the next n bytes and advances past them.
func (d *decoder) next(n int, what string) ([]byte, error) {
	if n > d.left() {
		return nil, fmt.Errorf("%s at offset %d: need %d bytes, only %d left", what, d.off, n, d.left())
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	b, err := d.next(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	b, err := d.next(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (d *decoder) str(what string) (string, error) {
	start := d.off
	n, err := d.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(d.left()) {
		return "", fmt.Errorf("%s at offset %d: length %d exceeds the %d bytes left", what, start, n, d.left())
	}
	b, _ := d.next(int(n), what)
	return string(b), nil
}

// value reads a value of type t; depth is the number of enclosing arrays.
func (d *decoder) value(t ValueType, depth int) (Value, error) {
	switch t {
	case ValueString:
		s, err := d.str("string")
		return Value{t, s}, err
	case ValueArray:
		return d.array(depth)
	}
	size := t.size()
	if size <= 0 {
		return Value{}, fmt.Errorf("unknown value type %d at offset %d", uint32(t), d.off-4)
	}
	b, err := d.next(size, t.String()+" value")
	if err != nil {
		return Value{}, err
	}
	return Value{t, scalar(t, b)}, nil
}

// scalar decodes a fixed-size value of type t from b.
func scalar(t ValueType, b []byte) any {
	switch t {
	case ValueUint8:
		return b[0]
	case ValueInt8:
		return int8(b[0])
	case ValueUint16:
		return binary.LittleEndian.Uint16(b)
	case ValueInt16:
		return int16(binary.LittleEndian.Uint16(b))
	case ValueUint32:
		return binary.LittleEndian.Uint32(b)
	case ValueInt32:
		return int32(binary.LittleEndian.Uint32(b))
	case ValueFloat32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b))
	case ValueBool:
		return b[0] != 0
	case ValueUint64:
		return binary.LittleEndian.Uint64(b)
	case ValueInt64:
		return int64(binary.LittleEndian.Uint64(b))
	case ValueFloat64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	panic("gguf: scalar of type " + t.String())
}

func (d *decoder) array(depth int) (Value, error) {
	if depth >= maxArrayDepth {
		return Value{}, fmt.Errorf("arrays nested deeper than %d at offset %d", maxArrayDepth, d.off)
	}
	start := d.off
	et, err := d.u32("array element type")
	if err != nil {
		return Value{}, err
	}
	elem := ValueType(et)
	min := elem.minSize()
	if min < 0 {
		return Value{}, fmt.Errorf("array at offset %d: unknown element type %d", start, et)
	}
	n64, err := d.u64("array length")
	if err != nil {
		return Value{}, err
	}
	if n64 > uint64(d.left()/min) {
		return Value{}, fmt.Errorf("array at offset %d: %d elements of %v need at least %d bytes each, only %d bytes left",
			start, n64, elem, min, d.left())
	}
	n := int(n64)
	switch elem {
	case ValueString:
		s := make([]string, n)
		for i := range s {
			if s[i], err = d.str("string"); err != nil {
				return Value{}, fmt.Errorf("array element %d: %w", i, err)
			}
		}
		return Value{ValueArray, s}, nil
	case ValueArray:
		s := make([]Value, n)
		for i := range s {
			if s[i], err = d.array(depth + 1); err != nil {
				return Value{}, fmt.Errorf("array element %d: %w", i, err)
			}
		}
		return Value{ValueArray, s}, nil
	}
	b, _ := d.next(n*min, "array")
	return Value{ValueArray, scalars(elem, b)}, nil
}

// scalars decodes the fixed-size values of type t that fill b.
func scalars(t ValueType, b []byte) any {
	le := binary.LittleEndian
	switch t {
	case ValueUint8:
		return append([]uint8{}, b...)
	case ValueInt8:
		return decodeAll(b, 1, func(b []byte) int8 { return int8(b[0]) })
	case ValueUint16:
		return decodeAll(b, 2, le.Uint16)
	case ValueInt16:
		return decodeAll(b, 2, func(b []byte) int16 { return int16(le.Uint16(b)) })
	case ValueUint32:
		return decodeAll(b, 4, le.Uint32)
	case ValueInt32:
		return decodeAll(b, 4, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case ValueFloat32:
		return decodeAll(b, 4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case ValueBool:
		return decodeAll(b, 1, func(b []byte) bool { return b[0] != 0 })
	case ValueUint64:
		return decodeAll(b, 8, le.Uint64)
	case ValueInt64:
		return decodeAll(b, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
	case ValueFloat64:
		return decodeAll(b, 8, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	}
	panic("gguf: scalars of type " + t.String())
}

func decodeAll[T any](b []byte, size int, f func([]byte) T) []T {
	s := make([]T, len(b)/size)
	for i := range s {
		s[i] = f(b[i*size : (i+1)*size])
	}
	return s
}
