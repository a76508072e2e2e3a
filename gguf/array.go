package gguf

import "math"

// elemType returns the element type of an array value and whether v is a
// valid array.
func (v Value) elemType() (ValueType, bool) {
	if v.Type != ValueArray {
		return 0, false
	}
	switch v.x.(type) {
	case []uint8:
		return ValueUint8, true
	case []int8:
		return ValueInt8, true
	case []uint16:
		return ValueUint16, true
	case []int16:
		return ValueInt16, true
	case []uint32:
		return ValueUint32, true
	case []int32:
		return ValueInt32, true
	case []float32:
		return ValueFloat32, true
	case []bool:
		return ValueBool, true
	case []string:
		return ValueString, true
	case []uint64:
		return ValueUint64, true
	case []int64:
		return ValueInt64, true
	case []float64:
		return ValueFloat64, true
	case []Value:
		return ValueArray, true
	}
	return 0, false
}

// Elem returns the element type of an array, and false if v is not an array.
func (v Value) Elem() (ValueType, bool) { return v.elemType() }

// Len returns the number of elements of an array, or 0 if v is not one.
func (v Value) Len() int {
	if _, ok := v.elemType(); !ok {
		return 0
	}
	switch s := v.x.(type) {
	case []uint8:
		return len(s)
	case []int8:
		return len(s)
	case []uint16:
		return len(s)
	case []int16:
		return len(s)
	case []uint32:
		return len(s)
	case []int32:
		return len(s)
	case []float32:
		return len(s)
	case []bool:
		return len(s)
	case []string:
		return len(s)
	case []uint64:
		return len(s)
	case []int64:
		return len(s)
	case []float64:
		return len(s)
	case []Value:
		return len(s)
	}
	return 0
}

// Index returns element i of an array. It panics if v is not an array or i
// is out of range.
func (v Value) Index(i int) Value {
	elem, ok := v.elemType()
	if !ok {
		panic("gguf: Index of non-array " + v.Type.String() + " value")
	}
	if elem == ValueArray {
		return v.x.([]Value)[i]
	}
	return Value{elem, index(v.x, i)}
}

func index(s any, i int) any {
	switch s := s.(type) {
	case []uint8:
		return s[i]
	case []int8:
		return s[i]
	case []uint16:
		return s[i]
	case []int16:
		return s[i]
	case []uint32:
		return s[i]
	case []int32:
		return s[i]
	case []float32:
		return s[i]
	case []bool:
		return s[i]
	case []string:
		return s[i]
	case []uint64:
		return s[i]
	case []int64:
		return s[i]
	case []float64:
		return s[i]
	}
	panic("gguf: index of non-array")
}

// AsStrings returns a copy of the elements of an array of strings.
func (v Value) AsStrings() ([]string, bool) {
	s, ok := v.x.([]string)
	if !ok || v.Type != ValueArray {
		return nil, false
	}
	return append([]string{}, s...), true
}

// AsFloat32s returns a copy of the elements of an array of float32.
func (v Value) AsFloat32s() ([]float32, bool) {
	s, ok := v.x.([]float32)
	if !ok || v.Type != ValueArray {
		return nil, false
	}
	return append([]float32{}, s...), true
}

// AsInt32s returns the elements of an array of integers of any width and
// signedness as int32s, if every element fits.
func (v Value) AsInt32s() ([]int32, bool) {
	if v.Type != ValueArray {
		return nil, false
	}
	switch s := v.x.(type) {
	case []int32:
		return append([]int32{}, s...), true
	case []uint8:
		return convertInts(s)
	case []int8:
		return convertInts(s)
	case []uint16:
		return convertInts(s)
	case []int16:
		return convertInts(s)
	case []uint32:
		return convertInts(s)
	case []uint64:
		return convertInts(s)
	case []int64:
		return convertInts(s)
	}
	return nil, false
}

func convertInts[T uint8 | int8 | uint16 | int16 | uint32 | uint64 | int64](s []T) ([]int32, bool) {
	out := make([]int32, len(s))
	for i, x := range s {
		if x < 0 && int64(x) < math.MinInt32 || x > 0 && uint64(x) > math.MaxInt32 {
			return nil, false
		}
		out[i] = int32(x)
	}
	return out, true
}

// Interface returns the contents of v as a Go value: uint8, int8, uint16,
// int16, uint32, int32, float32, bool, string, uint64, int64 or float64 for
// scalars, and for arrays a new slice of the element type, or []Value for an
// array of arrays. It returns nil for an invalid Value.
func (v Value) Interface() any {
	if !v.valid() {
		return nil
	}
	switch s := v.x.(type) {
	case []uint8:
		return append([]uint8{}, s...)
	case []int8:
		return append([]int8{}, s...)
	case []uint16:
		return append([]uint16{}, s...)
	case []int16:
		return append([]int16{}, s...)
	case []uint32:
		return append([]uint32{}, s...)
	case []int32:
		return append([]int32{}, s...)
	case []float32:
		return append([]float32{}, s...)
	case []bool:
		return append([]bool{}, s...)
	case []string:
		return append([]string{}, s...)
	case []uint64:
		return append([]uint64{}, s...)
	case []int64:
		return append([]int64{}, s...)
	case []float64:
		return append([]float64{}, s...)
	case []Value:
		return append([]Value{}, s...)
	}
	return v.x
}
