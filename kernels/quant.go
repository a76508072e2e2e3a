package kernels

import (
	"fmt"
	"math"
)

// Block sizes of the ggml quantization formats.
//
// A Q8_0 block is a little-endian f16 scale d followed by QK8_0 int8 values
// q; element i is q[i]×d.
//
// A Q4_0 block is a little-endian f16 scale d followed by QK4_0/2 bytes of
// 4-bit values; the low nibble of byte i is element i and its high nibble is
// element i+16, and an element with nibble n is (n-8)×d.
const (
	QK8_0          = 32 // elements per Q8_0 block
	QK4_0          = 32 // elements per Q4_0 block
	BlockBytesQ8_0 = 34 // bytes per Q8_0 block
	BlockBytesQ4_0 = 18 // bytes per Q4_0 block
)

// checkBlocks panics unless n is a whole number of blocks of qk elements and
// len(src) is exactly the size of those blocks.
func checkBlocks(fn string, n, qk, blockBytes, srcLen int) {
	if n%qk != 0 || srcLen != n/qk*blockBytes {
		panic(fmt.Sprintf("kernels: %s: %d values need a multiple of %d and %d bytes, got %d bytes",
			fn, n, qk, n/qk*blockBytes, srcLen))
	}
}

func scale(b []byte) float32 {
	return F16ToF32(uint16(b[0]) | uint16(b[1])<<8)
}

func putScale(b []byte, d float32) {
	h := F32ToF16(d)
	b[0], b[1] = byte(h), byte(h>>8)
}

// DequantizeQ8_0 decodes the Q8_0 blocks in src into dst. len(dst) must be a
// multiple of QK8_0 and src must hold exactly len(dst)/QK8_0 blocks;
// otherwise DequantizeQ8_0 panics.
func DequantizeQ8_0(dst []float32, src []byte) {
	checkBlocks("DequantizeQ8_0", len(dst), QK8_0, BlockBytesQ8_0, len(src))
	for len(dst) > 0 {
		blk, out := src[:BlockBytesQ8_0], dst[:QK8_0]
		d := scale(blk)
		q := blk[2:BlockBytesQ8_0]
		for i := range out {
			out[i] = float32(int8(q[i])) * d
		}
		src, dst = src[BlockBytesQ8_0:], dst[QK8_0:]
	}
}

// DequantizeQ4_0 decodes the Q4_0 blocks in src into dst. len(dst) must be a
// multiple of QK4_0 and src must hold exactly len(dst)/QK4_0 blocks;
// otherwise DequantizeQ4_0 panics.
func DequantizeQ4_0(dst []float32, src []byte) {
	checkBlocks("DequantizeQ4_0", len(dst), QK4_0, BlockBytesQ4_0, len(src))
	for len(dst) > 0 {
		blk, out := src[:BlockBytesQ4_0], dst[:QK4_0]
		d := scale(blk)
		q := blk[2:BlockBytesQ4_0]
		for i, b := range q {
			out[i] = float32(int(b&0xf)-8) * d
			out[i+QK4_0/2] = float32(int(b>>4)-8) * d
		}
		src, dst = src[BlockBytesQ4_0:], dst[QK4_0:]
	}
}

// QuantizeQ8_0 encodes src as Q8_0 blocks into dst, exactly as ggml's
// reference quantizer does: per block, d = max|x|/127 and q = round(x/d)
// (half away from zero), with d stored as f16. len(src) must be a multiple of
// QK8_0 and len(dst) exactly len(src)/QK8_0 blocks; otherwise QuantizeQ8_0
// panics.
func QuantizeQ8_0(dst []byte, src []float32) {
	checkBlocks("QuantizeQ8_0", len(src), QK8_0, BlockBytesQ8_0, len(dst))
	for len(src) > 0 {
		x, blk := src[:QK8_0], dst[:BlockBytesQ8_0]
		var amax float32
		for _, v := range x {
			amax = max(amax, abs32(v))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putScale(blk, d)
		q := blk[2:BlockBytesQ8_0]
		for i, v := range x {
			q[i] = byte(int8(math.Round(float64(float32(v * id)))))
		}
		src, dst = src[QK8_0:], dst[BlockBytesQ8_0:]
	}
}

// QuantizeQ4_0 encodes src as Q4_0 blocks into dst, exactly as ggml's
// reference quantizer does: per block, m is the value of largest magnitude
// (with its sign), d = m/-8, and each nibble is min(15, trunc(x/d + 8.5)),
// with d stored as f16. len(src) must be a multiple of QK4_0 and len(dst)
// exactly len(src)/QK4_0 blocks; otherwise QuantizeQ4_0 panics.
func QuantizeQ4_0(dst []byte, src []float32) {
	checkBlocks("QuantizeQ4_0", len(src), QK4_0, BlockBytesQ4_0, len(dst))
	for len(src) > 0 {
		x, blk := src[:QK4_0], dst[:BlockBytesQ4_0]
		var amax, m float32
		for _, v := range x {
			if a := abs32(v); amax < a {
				amax, m = a, v
			}
		}
		d := m / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putScale(blk, d)
		q := blk[2:BlockBytesQ4_0]
		for i := range q {
			q[i] = nibble4(x[i]*id) | nibble4(x[i+QK4_0/2]*id)<<4
		}
		src, dst = src[QK4_0:], dst[BlockBytesQ4_0:]
	}
}

// nibble4 returns min(15, trunc(v + 8.5)) as ggml does, also clamped below
// at 0 so that non-finite input cannot produce out-of-range nibbles.
func nibble4(v float32) byte {
	t := float32(v) + 8.5 // the conversion keeps v*id and +8.5 from being fused
	if !(t >= 0) {        // negative or NaN
		return 0
	}
	if t >= 15 {
		return 15
	}
	return byte(t)
}

func abs32(v float32) float32 {
	return math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
}

// DotQ8_0 returns the dot product of the Q8_0-encoded row w with x without
// materialising the row. len(x) must be a multiple of QK8_0 and w must hold
// exactly len(x)/QK8_0 blocks; otherwise DotQ8_0 panics.
func DotQ8_0(w []byte, x []float32) float32 {
	checkBlocks("DotQ8_0", len(x), QK8_0, BlockBytesQ8_0, len(w))
	if useAVX2 {
		return dotQ8_0AVX2(w, x)
	}
	return dotQ8_0Generic(w, x)
}

// dotQ8_0Generic is DotQ8_0 in plain Go; w holds len(x)/QK8_0 blocks.
func dotQ8_0Generic(w []byte, x []float32) float32 {
	var sum float32
	for len(x) > 0 {
		blk, xs := w[:BlockBytesQ8_0], x[:QK8_0]
		q := blk[2:BlockBytesQ8_0]
		var s0, s1, s2, s3 float32
		for i := 0; i < QK8_0; i += 4 {
			q4, x4 := q[i:i+4:i+4], xs[i:i+4:i+4]
			s0 += float32(int8(q4[0])) * x4[0]
			s1 += float32(int8(q4[1])) * x4[1]
			s2 += float32(int8(q4[2])) * x4[2]
			s3 += float32(int8(q4[3])) * x4[3]
		}
		sum += scale(blk) * ((s0 + s1) + (s2 + s3))
		w, x = w[BlockBytesQ8_0:], x[QK8_0:]
	}
	return sum
}

// DotQ4_0 returns the dot product of the Q4_0-encoded row w with x without
// materialising the row. len(x) must be a multiple of QK4_0 and w must hold
// exactly len(x)/QK4_0 blocks; otherwise DotQ4_0 panics.
func DotQ4_0(w []byte, x []float32) float32 {
	checkBlocks("DotQ4_0", len(x), QK4_0, BlockBytesQ4_0, len(w))
	if useAVX2 {
		return dotQ4_0AVX2(w, x)
	}
	return dotQ4_0Generic(w, x)
}

// dotQ4_0Generic is DotQ4_0 in plain Go; w holds len(x)/QK4_0 blocks.
func dotQ4_0Generic(w []byte, x []float32) float32 {
	var sum float32
	for len(x) > 0 {
		blk, lo, hi := w[:BlockBytesQ4_0], x[:QK4_0/2], x[QK4_0/2:QK4_0]
		q := blk[2:BlockBytesQ4_0]
		var s0, s1, s2, s3 float32
		for i := 0; i < QK4_0/2; i += 2 {
			q2, l2, h2 := q[i:i+2:i+2], lo[i:i+2:i+2], hi[i:i+2:i+2]
			s0 += float32(int(q2[0]&0xf)-8) * l2[0]
			s1 += float32(int(q2[0]>>4)-8) * h2[0]
			s2 += float32(int(q2[1]&0xf)-8) * l2[1]
			s3 += float32(int(q2[1]>>4)-8) * h2[1]
		}
		sum += scale(blk) * ((s0 + s1) + (s2 + s3))
		w, x = w[BlockBytesQ4_0:], x[QK4_0:]
	}
	return sum
}
