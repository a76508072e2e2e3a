package kernels

import (
	"fmt"
	"math"
)

// F16ToF32 converts an IEEE 754 binary16 value to float32. Every half value,
// subnormals included, is exactly representable, so the conversion is exact;
// infinities keep their sign and NaNs stay NaN with their payload.
func F16ToF32(h uint16) float32 {
	// Move exponent and mantissa into place and rebias the exponent; then fix
	// up the two special exponents. Kept small enough to be inlined.
	const shiftedExp = 0x7c00 << 13
	o := uint32(h&0x7fff) << 13
	exp := o & shiftedExp
	o += (127 - 15) << 23
	switch exp {
	case shiftedExp: // Inf or NaN: all-ones exponent
		o += (128 - 16) << 23
	case 0: // zero or subnormal: renormalise with an exact subtraction
		o = math.Float32bits(math.Float32frombits(o+1<<23) - 0x1p-14)
	}
	return math.Float32frombits(o | uint32(h&0x8000)<<16)
}

// F32ToF16 converts f to IEEE 754 binary16, rounding to nearest with ties to
// even. Values too large for a half become ±Inf, values too small become
// (signed) subnormals or zero, and NaN becomes a quiet NaN.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13) // quiet NaN, keep the top payload bits
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // biased half exponent
	switch {
	case e >= 0x1f:
		return sign | 0x7c00
	case e <= 0:
		// Subnormal half (or zero). Anything below 2⁻²⁵, half the smallest
		// subnormal, rounds to zero.
		if e < -10 {
			return sign
		}
		m := mant | 0x800000
		shift := uint(14 - e) // 14..24
		q := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || rem == half && q&1 == 1 {
			q++ // may carry into the smallest normal, which is the right encoding
		}
		return sign | uint16(q)
	}
	q := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && q&1 == 1 {
		q++ // a carry into the exponent is correct, up to and including Inf
	}
	return sign | uint16(q)
}

// BF16ToF32 converts a bfloat16 value to float32 (exact).
func BF16ToF32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}

// F32ToBF16 converts f to bfloat16, rounding to nearest with ties to even.
// NaN becomes a quiet NaN; values that round past the largest finite
// bfloat16 become ±Inf.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F16sToF32s converts src to float32 into dst[:len(src)], exactly as
// F16ToF32 does, except that signalling NaNs may come back quiet.
// It panics if dst is shorter than src.
func F16sToF32s(dst []float32, src []uint16) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("kernels: F16sToF32s: len(dst)=%d < len(src)=%d", len(dst), len(src)))
	}
	dst = dst[:len(src)]
	if useAVX2 {
		f16sToF32sAVX2(dst, src)
		return
	}
	f16sToF32sGeneric(dst, src)
}

// f16sToF32sGeneric is F16sToF32s in plain Go; len(dst) >= len(src).
func f16sToF32sGeneric(dst []float32, src []uint16) {
	dst = dst[:len(src)]
	t := f16Table
	for i, h := range src {
		dst[i] = t[h]
	}
}

// f16Table maps every half-precision bit pattern to its float32 value: a
// 256 KiB table that stays in cache and beats bit manipulation in hot loops.
var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = F16ToF32(uint16(i))
	}
	return &t
}()

// F32sToF16s converts src to half precision into dst[:len(src)].
// It panics if dst is shorter than src.
func F32sToF16s(dst []uint16, src []float32) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("kernels: F32sToF16s: len(dst)=%d < len(src)=%d", len(dst), len(src)))
	}
	dst = dst[:len(src)]
	for i, f := range src {
		dst[i] = F32ToF16(f)
	}
}

// DotF16 returns the dot product of the half-precision vector w with x.
// It panics if the lengths differ.
func DotF16(w []uint16, x []float32) float32 {
	if len(w) != len(x) {
		panic(fmt.Sprintf("kernels: DotF16: len(w)=%d != len(x)=%d", len(w), len(x)))
	}
	if useAVX2 {
		return dotF16AVX2(w, x)
	}
	return dotF16Generic(w, x)
}

// dotF16Generic is DotF16 in plain Go; len(w) >= len(x).
func dotF16Generic(w []uint16, x []float32) float32 {
	w = w[:len(x)]
	t := f16Table
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		w4, x4 := w[i:i+4:i+4], x[i:i+4:i+4]
		s0 += t[w4[0]] * x4[0]
		s1 += t[w4[1]] * x4[1]
		s2 += t[w4[2]] * x4[2]
		s3 += t[w4[3]] * x4[3]
	}
	for ; i < len(x); i++ {
		s0 += t[w[i]] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}
