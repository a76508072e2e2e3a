package kernels

import "fmt"

// Weighted sums of quantized value rows for KV caches stored as GGUF Q8_0 or
// Q4_0 blocks, without dequantizing them to memory first.

// KVAccum adds Σᵢ p[j·ldp+i]·vᵢ to out[j·ldo:j·ldo+w] for each of the m
// outputs j, over the n = len(v)/t.RowBytes(w) rows vᵢ of type t (Q8_0 or
// Q4_0) in v, w a multiple of 32: exactly AttnAccumF32 over the rows
// dequantized (DequantizeQ8_0, DequantizeQ4_0), bit for bit, on every path
// (a dequantized value is an exact product, so converting it in registers
// rounds nothing that dequantizing to memory would not). Each row is read
// once for a group of up to four outputs. It panics if t is not Q8_0 or
// Q4_0, w is not a multiple of 32, or the slices are too short.
func KVAccum(t DType, out []float32, ldo int, p []float32, ldp, m int, v []byte, w int) {
	if t != Q8_0 && t != Q4_0 {
		panic(fmt.Sprintf("kernels: KVAccum: type %v is not Q8_0 or Q4_0", t))
	}
	if w <= 0 || w%QK8 != 0 {
		panic(fmt.Sprintf("kernels: KVAccum: width %d is not a positive multiple of %d", w, QK8))
	}
	rb := t.RowBytes(w)
	if len(v)%rb != 0 {
		panic(fmt.Sprintf("kernels: KVAccum: %d bytes of rows are not whole rows of %d", len(v), rb))
	}
	n := len(v) / rb
	if n == 0 || m <= 0 {
		return
	}
	if ldo < w || len(out) < (m-1)*ldo+w || ldp < n || len(p) < (m-1)*ldp+n {
		panic(fmt.Sprintf("kernels: KVAccum: out %d (stride %d) or p %d (stride %d) too short for %d×%d rows of %d", len(out), ldo, len(p), ldp, m, n, w))
	}
	if !useAVX2 {
		val := func(i, c int) float32 {
			blk := v[i*rb+c/QK8*BlockBytesQ8_0:]
			return float32(int8(blk[2+c%QK8])) * scale(blk)
		}
		if t == Q4_0 {
			val = func(i, c int) float32 {
				blk := v[i*rb+c/QK4_0*BlockBytesQ4_0:]
				b := blk[2+c%(QK4_0/2)]
				if c%QK4_0 >= QK4_0/2 {
					b >>= 4
				}
				return float32(int(b&0xf)-8) * scale(blk)
			}
		}
		attnAccumGeneric(out, ldo, p, ldp, m, n, 0, w, val)
		return
	}
	q4, q1 := kvAccQ8_0Q4AVX2, kvAccQ8_0Q1AVX2
	if t == Q4_0 {
		q4, q1 = kvAccQ4_0Q4AVX2, kvAccQ4_0Q1AVX2
	}
	nb := w / QK8
	j := 0
	for ; j+4 <= m; j += 4 {
		q4(out[j*ldo:], ldo, p[j*ldp:], ldp, v, n, nb)
	}
	for ; j < m; j++ {
		q1(out[j*ldo:], p[j*ldp:], v, n, nb)
	}
}
