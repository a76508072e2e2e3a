package gguf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// A KeyValue is one metadata pair.
type KeyValue struct {
	Key   string
	Value Value
}

// A Value is a metadata value of any type. Scalars hold their Go value; an
// array holds its element type and elements, which may themselves be arrays.
// Build values with the constructors ([StringValue], [ArrayValue], ...); the
// zero Value is not valid and cannot be written.
type Value struct {
	Type ValueType
	x    any // uint8 ... float64, bool, string; for arrays []uint8 ... []float64, []bool, []string or []Value
}

// Scalar constructors.

// Uint8Value returns a uint8 value.
func Uint8Value(u uint8) Value { return Value{ValueUint8, u} }

// Int8Value returns an int8 value.
func Int8Value(i int8) Value { return Value{ValueInt8, i} }

// Uint16Value returns a uint16 value.
func Uint16Value(u uint16) Value { return Value{ValueUint16, u} }

// Int16Value returns an int16 value.
func Int16Value(i int16) Value { return Value{ValueInt16, i} }

// Uint32Value returns a uint32 value.
func Uint32Value(u uint32) Value { return Value{ValueUint32, u} }

// Int32Value returns an int32 value.
func Int32Value(i int32) Value { return Value{ValueInt32, i} }

// Uint64Value returns a uint64 value.
func Uint64Value(u uint64) Value { return Value{ValueUint64, u} }

// Int64Value returns an int64 value.
func Int64Value(i int64) Value { return Value{ValueInt64, i} }

// Float32Value returns a float32 value.
func Float32Value(f float32) Value { return Value{ValueFloat32, f} }

// Float64Value returns a float64 value.
func Float64Value(f float64) Value { return Value{ValueFloat64, f} }

// BoolValue returns a bool value.
func BoolValue(b bool) Value { return Value{ValueBool, b} }

// StringValue returns a string value.
func StringValue(s string) Value { return Value{ValueString, s} }

// StringsValue returns an array of strings holding a copy of s.
func StringsValue(s []string) Value { return Value{ValueArray, append([]string{}, s...)} }

// Float32sValue returns an array of float32 holding a copy of f.
func Float32sValue(f []float32) Value { return Value{ValueArray, append([]float32{}, f...)} }

// Int32sValue returns an array of int32 holding a copy of i.
func Int32sValue(i []int32) Value { return Value{ValueArray, append([]int32{}, i...)} }

// ArrayValue returns an array with element type elem holding elems, which
// may be empty. It panics if an element's type is not elem, or if an
// element is itself an invalid Value.
func ArrayValue(elem ValueType, elems ...Value) Value {
	for i, e := range elems {
		if e.Type != elem || !e.valid() {
			panic(fmt.Sprintf("gguf: ArrayValue: element %d is %v, want a valid %v", i, e.Type, elem))
		}
	}
	switch elem {
	case ValueUint8:
		return Value{ValueArray, collect[uint8](elems)}
	case ValueInt8:
		return Value{ValueArray, collect[int8](elems)}
	case ValueUint16:
		return Value{ValueArray, collect[uint16](elems)}
	case ValueInt16:
		return Value{ValueArray, collect[int16](elems)}
	case ValueUint32:
		return Value{ValueArray, collect[uint32](elems)}
	case ValueInt32:
		return Value{ValueArray, collect[int32](elems)}
	case ValueFloat32:
		return Value{ValueArray, collect[float32](elems)}
	case ValueBool:
		return Value{ValueArray, collect[bool](elems)}
	case ValueString:
		return Value{ValueArray, collect[string](elems)}
	case ValueUint64:
		return Value{ValueArray, collect[uint64](elems)}
	case ValueInt64:
		return Value{ValueArray, collect[int64](elems)}
	case ValueFloat64:
		return Value{ValueArray, collect[float64](elems)}
	case ValueArray:
		return Value{ValueArray, append([]Value{}, elems...)}
	}
	panic(fmt.Sprintf("gguf: ArrayValue: unknown element type %v", elem))
}

func collect[T any](elems []Value) []T {
	s := make([]T, len(elems))
	for i, e := range elems {
		s[i] = e.x.(T)
	}
	return s
}

// valid reports whether v's contents match its Type (not looking inside
// nested arrays).
func (v Value) valid() bool {
	if v.Type == ValueArray {
		_, ok := v.elemType()
		return ok
	}
	switch v.x.(type) {
	case uint8:
		return v.Type == ValueUint8
	case int8:
		return v.Type == ValueInt8
	case uint16:
		return v.Type == ValueUint16
	case int16:
		return v.Type == ValueInt16
	case uint32:
		return v.Type == ValueUint32
	case int32:
		return v.Type == ValueInt32
	case float32:
		return v.Type == ValueFloat32
	case bool:
		return v.Type == ValueBool
	case string:
		return v.Type == ValueString
	case uint64:
		return v.Type == ValueUint64
	case int64:
		return v.Type == ValueInt64
	case float64:
		return v.Type == ValueFloat64
	}
	return false
}

// String formats v for people: numbers and booleans as Go would, strings
// quoted, and arrays as their length, element type and first few elements,
// such as [512]string{"<unk>", "<s>", ...}.
func (v Value) String() string {
	if !v.valid() {
		return fmt.Sprintf("<invalid %v value>", v.Type)
	}
	switch x := v.x.(type) {
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return strconv.Quote(x)
	}
	if v.Type != ValueArray {
		return fmt.Sprint(v.x)
	}
	const show = 8
	elem, _ := v.elemType()
	n := v.Len()
	var b strings.Builder
	fmt.Fprintf(&b, "[%d]%v{", n, elem)
	for i := range min(n, show) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.Index(i).String())
	}
	if n > show {
		b.WriteString(", ...")
	}
	b.WriteByte('}')
	return b.String()
}

// AsString returns the contents of a string value.
func (v Value) AsString() (string, bool) {
	s, ok := v.x.(string)
	return s, ok && v.Type == ValueString
}

// AsBool returns the contents of a bool value.
func (v Value) AsBool() (bool, bool) {
	b, ok := v.x.(bool)
	return b, ok && v.Type == ValueBool
}

// AsUint returns the contents of an integer value of any width and
// signedness, if it is not negative.
func (v Value) AsUint() (uint64, bool) {
	switch x := v.x.(type) {
	case uint8, uint16, uint32, uint64:
		return toUint(x), v.valid()
	case int8, int16, int32, int64:
		i := toInt(x)
		return uint64(i), i >= 0 && v.valid()
	}
	return 0, false
}

// AsInt returns the contents of an integer value of any width and
// signedness, if it fits in an int64.
func (v Value) AsInt() (int64, bool) {
	switch x := v.x.(type) {
	case uint8, uint16, uint32, uint64:
		u := toUint(x)
		return int64(u), u <= math.MaxInt64 && v.valid()
	case int8, int16, int32, int64:
		return toInt(x), v.valid()
	}
	return 0, false
}

// AsFloat returns the contents of a float32, float64 or integer value.
func (v Value) AsFloat() (float64, bool) {
	switch x := v.x.(type) {
	case float32:
		return float64(x), v.valid()
	case float64:
		return x, v.valid()
	case uint8, uint16, uint32, uint64:
		return float64(toUint(x)), v.valid()
	case int8, int16, int32, int64:
		return float64(toInt(x)), v.valid()
	}
	return 0, false
}

func toUint(x any) uint64 {
	switch x := x.(type) {
	case uint8:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint32:
		return uint64(x)
	case uint64:
		return x
	}
	return 0
}

func toInt(x any) int64 {
	switch x := x.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	}
	return 0
}
