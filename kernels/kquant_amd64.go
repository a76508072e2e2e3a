//go:build !purego

package kernels

// kChunk is how many super-blocks the AVX2 K-quant kernels take per call:
// their scales are decoded in Go into a stack array of 16 float32s per
// super-block first.
const kChunk = 16

// dotQ4_KAVX2 is DotQ4_K with the AVX2 kernel q4KRowAVX2: Go decodes each
// super-block's eight d×scale and dmin×min products, and the assembly
// computes (d×scale×q − dmin×min)·x with FMAs.
func dotQ4_KAVX2(w []byte, x []float32) float32 {
	var sc [16 * kChunk]float32
	var sum float32
	for len(x) > 0 {
		n := min(len(x)/QK_K, kChunk)
		for b := range n {
			blk := w[b*BlockBytesQ4_K : b*BlockBytesQ4_K+16]
			d, dmin := scale(blk), scale(blk[2:])
			for j := range 8 {
				s, m := scaleMinK4(j, blk[4:16])
				sc[16*b+j] = d * float32(s)
				sc[16*b+8+j] = dmin * float32(m)
			}
		}
		sum += q4KRowAVX2(w[:n*BlockBytesQ4_K], x[:n*QK_K], sc[:16*n])
		w, x = w[n*BlockBytesQ4_K:], x[n*QK_K:]
	}
	return sum
}

// dotQ6_KAVX2 is DotQ6_K with the AVX2 kernel q6KRowAVX2: Go computes each
// super-block's sixteen d×scale products, and the assembly the rest.
func dotQ6_KAVX2(w []byte, x []float32) float32 {
	var sc [16 * kChunk]float32
	var sum float32
	for len(x) > 0 {
		n := min(len(x)/QK_K, kChunk)
		for b := range n {
			blk := w[b*BlockBytesQ6_K : (b+1)*BlockBytesQ6_K]
			d := scale(blk[208:])
			for j, s := range blk[192:208] {
				sc[16*b+j] = d * float32(int8(s))
			}
		}
		sum += q6KRowAVX2(w[:n*BlockBytesQ6_K], x[:n*QK_K], sc[:16*n])
		w, x = w[n*BlockBytesQ6_K:], x[n*QK_K:]
	}
	return sum
}

// The assembly, in kquant_amd64.s: w holds len(x)/256 super-blocks and sc
// 16 float32s for each.

//go:noescape
func q4KRowAVX2(w []byte, x []float32, sc []float32) float32

//go:noescape
func q6KRowAVX2(w []byte, x []float32, sc []float32) float32
