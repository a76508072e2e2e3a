package kernels

import (
	"fmt"
	"math"
)

// DotBF16 returns the dot product of the bfloat16 vector w with x. Widening
// bfloat16 is a shift, so plain Go keeps up with memory here.
// It panics if the lengths differ.
func DotBF16(w []uint16, x []float32) float32 {
	if len(w) != len(x) {
		panic(fmt.Sprintf("kernels: DotBF16: len(w)=%d != len(x)=%d", len(w), len(x)))
	}
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		w4, x4 := w[i:i+4:i+4], x[i:i+4:i+4]
		s0 += math.Float32frombits(uint32(w4[0])<<16) * x4[0]
		s1 += math.Float32frombits(uint32(w4[1])<<16) * x4[1]
		s2 += math.Float32frombits(uint32(w4[2])<<16) * x4[2]
		s3 += math.Float32frombits(uint32(w4[3])<<16) * x4[3]
	}
	for ; i < len(x); i++ {
		s0 += math.Float32frombits(uint32(w[i])<<16) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// BF16sToF32s converts src to float32 into dst[:len(src)].
// It panics if dst is shorter than src.
func BF16sToF32s(dst []float32, src []uint16) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("kernels: BF16sToF32s: len(dst)=%d < len(src)=%d", len(dst), len(src)))
	}
	for i, b := range src {
		dst[i] = math.Float32frombits(uint32(b) << 16)
	}
}
