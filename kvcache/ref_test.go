package kvcache_test

import (
	"math"

	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
)

// allTypes lists every storage type.
var allTypes = []kvcache.DType{kvcache.F16, kvcache.F32, kvcache.Q8_0, kvcache.Q4_0}

// blocked reports whether typ stores GGUF blocks of 32 values.
func blocked(typ kvcache.DType) bool { return typ == kvcache.Q8_0 || typ == kvcache.Q4_0 }

// rowBytesRef is the closed form of a stored row's bytes: 2w for f16, 4w
// for f32, 34 per started block of 32 for q8_0 and 18 for q4_0.
func rowBytesRef(typ kvcache.DType, w int) int64 {
	blocks := int64(w+31) / 32
	switch typ {
	case kvcache.F16:
		return 2 * int64(w)
	case kvcache.F32:
		return 4 * int64(w)
	case kvcache.Q8_0:
		return 34 * blocks
	case kvcache.Q4_0:
		return 18 * blocks
	}
	panic("rowBytesRef: " + typ.String())
}

// stored returns x as a cache of type typ stores it, read back: rounded to
// half for f16; for the blocked types, GGUF's block_q8_0 or block_q4_0 of
// the row zero-padded to whole blocks, by the reference quantizers and
// dequantizers in package kernels.
func stored(typ kvcache.DType, x []float32) []float32 {
	out := make([]float32, len(x))
	switch typ {
	case kvcache.F32:
		copy(out, x)
	case kvcache.F16:
		for i, v := range x {
			out[i] = kernels.F16ToF32(kernels.F32ToF16(v))
		}
	default:
		n := (len(x) + 31) / 32 * 32
		pad, back := make([]float32, n), make([]float32, n)
		copy(pad, x)
		if typ == kvcache.Q8_0 {
			blk := make([]byte, n/32*kernels.BlockBytesQ8_0)
			kernels.QuantizeQ8_0(blk, pad)
			kernels.DequantizeQ8_0(back, blk)
		} else {
			blk := make([]byte, n/32*kernels.BlockBytesQ4_0)
			kernels.QuantizeQ4_0(blk, pad)
			kernels.DequantizeQ4_0(back, blk)
		}
		copy(out, back)
	}
	return out
}

// q8Query returns the query x as attention over a blocked type sees it:
// quantized in blocks of 32 (the last zero-padded) by llama.cpp's
// block_q8_0 rule with a float32 scale, d = max|x|/127 and q = round(x/d)
// half away from zero, then q·d.
func q8Query(x []float32) []float64 {
	out := make([]float64, len(x))
	for b := 0; b < len(x); b += 32 {
		blk := x[b:min(b+32, len(x))]
		var amax float32
		for _, v := range blk {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		for i, v := range blk {
			f := v * id
			q := float32(math.Trunc(float64(f + float32(math.Copysign(0.5, float64(f))))))
			q = max(-127, min(127, q))
			out[b+i] = float64(q) * float64(d)
		}
	}
	return out
}

// q8QueryError returns the most the logit of key k (D values, zero where
// not stored) can move when the query x (over the same channels, in the
// same blocks) is replaced by q8Query(x): half a quantization step per
// block times the block's Σ|k|, times scale.
func q8QueryError(x []float32, k []float64, scale float64) float64 {
	var e float64
	for b := 0; b < len(x); b += 32 {
		var amax, sk float64
		for i := b; i < min(b+32, len(x)); i++ {
			amax = math.Max(amax, math.Abs(float64(x[i])))
			sk += math.Abs(k[i])
		}
		e += amax / 127 / 2 * sk
	}
	return e * scale
}
