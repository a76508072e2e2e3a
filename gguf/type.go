package gguf

import (
	"fmt"
	"strconv"
)

// Type is a ggml tensor element type as stored in a tensor's directory entry.
type Type uint32

// The tensor types this package can read and dequantize; all but Q2_K and
// Q3_K can also be written from float32 (see [Writer.AddFloat32Tensor]).
// Other ggml types are known by name only (see [Type.String]).
const (
	TypeF32  Type = 0
	TypeF16  Type = 1
	TypeQ4_0 Type = 2
	TypeQ4_1 Type = 3
	TypeQ5_0 Type = 6
	TypeQ5_1 Type = 7
	TypeQ8_0 Type = 8
	TypeQ2_K Type = 10
	TypeQ3_K Type = 11
	TypeQ4_K Type = 12
	TypeQ5_K Type = 13
	TypeQ6_K Type = 14
	TypeBF16 Type = 30
)

// typeNames names every ggml type, supported or not; gaps are types that ggml
// has removed.
var typeNames = map[Type]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0",
	9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K",
	15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S",
	20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16",
	26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0",
	35: "TQ2_0", 39: "MXFP4",
}

// String returns the ggml name of t, such as "Q8_0", or "Type(N)" for a
// number ggml does not define.
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "Type(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// Supported reports whether this package can handle tensors of type t.
func (t Type) Supported() bool { return t.BlockSize() != 0 }

// BlockSize returns the number of elements per block: 1 for F32, F16 and
// BF16, 32 for Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0, 256 for the K-quants (Q2_K
// to Q6_K), and 0 for unsupported types.
func (t Type) BlockSize() int {
	switch t {
	case TypeF32, TypeF16, TypeBF16:
		return 1
	case TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ8_0:
		return 32
	case TypeQ2_K, TypeQ3_K, TypeQ4_K, TypeQ5_K, TypeQ6_K:
		return 256
	}
	return 0
}

// BlockBytes returns the number of bytes per block, or 0 for unsupported
// types.
func (t Type) BlockBytes() int {
	switch t {
	case TypeF32:
		return 4
	case TypeF16, TypeBF16:
		return 2
	case TypeQ4_0:
		return 18
	case TypeQ4_1:
		return 20
	case TypeQ5_0:
		return 22
	case TypeQ5_1:
		return 24
	case TypeQ8_0:
		return 34
	case TypeQ2_K:
		return 84
	case TypeQ3_K:
		return 110
	case TypeQ4_K:
		return 144
	case TypeQ5_K:
		return 176
	case TypeQ6_K:
		return 210
	}
	return 0
}

// RowBytes returns the number of bytes that n elements of type t occupy. It
// fails if t is unsupported, if n is negative or not a whole number of
// blocks, or if the size overflows an int.
func (t Type) RowBytes(n int) (int, error) {
	bs := t.BlockSize()
	if bs == 0 {
		return 0, fmt.Errorf("gguf: unsupported tensor type %v (%d)", t, uint32(t))
	}
	if n < 0 || n%bs != 0 {
		return 0, fmt.Errorf("gguf: %d elements is not a whole number of %v blocks of %d", n, t, bs)
	}
	blocks, bb := n/bs, t.BlockBytes()
	if blocks > maxInt/bb {
		return 0, fmt.Errorf("gguf: %d elements of %v overflow the address space", n, t)
	}
	return blocks * bb, nil
}

const maxInt = int(^uint(0) >> 1)

// ValueType is the type of a metadata value.
type ValueType uint32

// Metadata value types, numbered as in the file format.
const (
	ValueUint8   ValueType = 0
	ValueInt8    ValueType = 1
	ValueUint16  ValueType = 2
	ValueInt16   ValueType = 3
	ValueUint32  ValueType = 4
	ValueInt32   ValueType = 5
	ValueFloat32 ValueType = 6
	ValueBool    ValueType = 7
	ValueString  ValueType = 8
	ValueArray   ValueType = 9
	ValueUint64  ValueType = 10
	ValueInt64   ValueType = 11
	ValueFloat64 ValueType = 12
)

var valueTypeNames = [...]string{
	"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool",
	"string", "array", "uint64", "int64", "float64",
}

// String returns the name of t, such as "uint32", or "ValueType(N)" for an
// unknown type.
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return "ValueType(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// size returns the encoded size of a scalar of type t: 0 for strings and
// arrays, whose size varies, and -1 for unknown types.
func (t ValueType) size() int {
	switch t {
	case ValueUint8, ValueInt8, ValueBool:
		return 1
	case ValueUint16, ValueInt16:
		return 2
	case ValueUint32, ValueInt32, ValueFloat32:
		return 4
	case ValueUint64, ValueInt64, ValueFloat64:
		return 8
	case ValueString, ValueArray:
		return 0
	}
	return -1
}

// minSize returns the smallest encoded size of a value of type t (a string
// is at least its 8-byte length, an array its 4-byte type and 8-byte count),
// or -1 for unknown types.
func (t ValueType) minSize() int {
	switch t {
	case ValueString:
		return 8
	case ValueArray:
		return 12
	}
	return t.size()
}
