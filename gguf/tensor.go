package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/thinkv/thinkv/kernels"
)

// TensorInfo is a tensor's directory entry.
type TensorInfo struct {
	Name string
	// Shape lists the dimensions in ggml order: Shape[0] varies fastest (the
	// row length), so a row-major matrix W of r rows and c columns has
	// Shape {c, r}.
	Shape  []uint64
	Type   Type
	Offset uint64 // start of the data, relative to the data section
}

// NumElements returns the product of the dimensions (1 for an empty shape).
// For directory entries read by Open and Parse it does not overflow.
func (t *TensorInfo) NumElements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Bytes returns the size of the tensor's data, or 0 if its type is
// unsupported or its element count is not a whole number of blocks.
func (t *TensorInfo) Bytes() uint64 {
	bs := uint64(t.Type.BlockSize())
	n := t.NumElements()
	if bs == 0 || n%bs != 0 {
		return 0
	}
	return n / bs * uint64(t.Type.BlockBytes())
}

// decodeFloat32s decodes src, encoded as typ, into dst; len(src) must be
// exactly the encoding of len(dst) values.
func decodeFloat32s(dst []float32, typ Type, src []byte) error {
	if n, err := typ.RowBytes(len(dst)); err != nil {
		return err
	} else if n != len(src) {
		return fmt.Errorf("%d values of %v need %d bytes, have %d", len(dst), typ, n, len(src))
	}
	le := binary.LittleEndian
	switch typ {
	case TypeF32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case TypeF16:
		for i := range dst {
			dst[i] = kernels.F16ToF32(le.Uint16(src[2*i:]))
		}
	case TypeBF16:
		for i := range dst {
			dst[i] = kernels.BF16ToF32(le.Uint16(src[2*i:]))
		}
	case TypeQ8_0:
		kernels.DequantizeQ8_0(dst, src)
	case TypeQ4_0:
		kernels.DequantizeQ4_0(dst, src)
	default:
		codecs[typ].dequantize(dst, src)
	}
	return nil
}

// codecs are the block formats of kernels/kquant.go: dequantizer and
// quantizer (nil for Q2_K and Q3_K, which are read only).
var codecs = map[Type]struct {
	dequantize func([]float32, []byte)
	quantize   func([]byte, []float32)
}{
	TypeQ4_1: {kernels.DequantizeQ4_1, kernels.QuantizeQ4_1},
	TypeQ5_0: {kernels.DequantizeQ5_0, kernels.QuantizeQ5_0},
	TypeQ5_1: {kernels.DequantizeQ5_1, kernels.QuantizeQ5_1},
	TypeQ2_K: {kernels.DequantizeQ2_K, nil},
	TypeQ3_K: {kernels.DequantizeQ3_K, nil},
	TypeQ4_K: {kernels.DequantizeQ4_K, kernels.QuantizeQ4_K},
	TypeQ5_K: {kernels.DequantizeQ5_K, kernels.QuantizeQ5_K},
	TypeQ6_K: {kernels.DequantizeQ6_K, kernels.QuantizeQ6_K},
}

// CanEncode reports whether [Writer.AddFloat32Tensor] can write type t:
// every supported type but Q2_K and Q3_K.
func (t Type) CanEncode() bool {
	if c, ok := codecs[t]; ok {
		return c.quantize != nil
	}
	return t.Supported()
}

// encodeFloat32s encodes src as typ into a new slice.
func encodeFloat32s(typ Type, src []float32) ([]byte, error) {
	n, err := typ.RowBytes(len(src))
	if err != nil {
		return nil, err
	}
	if !typ.CanEncode() {
		return nil, fmt.Errorf("no quantizer for %v: it can be read but not written", typ)
	}
	dst := make([]byte, n)
	le := binary.LittleEndian
	switch typ {
	case TypeF32:
		for i, v := range src {
			le.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case TypeF16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], kernels.F32ToF16(v))
		}
	case TypeBF16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], kernels.F32ToBF16(v))
		}
	case TypeQ8_0:
		kernels.QuantizeQ8_0(dst, src)
	case TypeQ4_0:
		kernels.QuantizeQ4_0(dst, src)
	default:
		parallelBlocks(codecs[typ].quantize, typ, dst, src)
	}
	return dst, nil
}

// parallelBlocks runs quantize over src in pieces of whole blocks, one per
// CPU, when src is large enough (the K-quant quantizers search scales and
// take about 0.1-0.5 µs per value).
func parallelBlocks(quantize func([]byte, []float32), typ Type, dst []byte, src []float32) {
	bs, bb := typ.BlockSize(), typ.BlockBytes()
	blocks := len(src) / bs
	workers := min(runtime.GOMAXPROCS(0), blocks/64)
	if workers <= 1 {
		quantize(dst, src)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := blocks*w/workers, blocks*(w+1)/workers
		wg.Go(func() { quantize(dst[lo*bb:hi*bb], src[lo*bs:hi*bs]) })
	}
	wg.Wait()
}
