//go:build !purego

package kernels

// The attention kernels in attn_amd64.s (AVX2, FMA, F16C). Callers check
// the lengths: keys holds n rows of w elements (n a multiple of 4 for the K4
// tiles) with w ≥ 8, of which the first w&^7 channels are summed; dst, q, out
// and p hold the rows their strides say; x's length is a multiple of 8.

//go:noescape
func dotsF16K4Q2AVX2(dst []float32, ldd int, keys []uint16, n, w int, q []float32, scale float32)

//go:noescape
func dotsF16K4Q1AVX2(dst []float32, keys []uint16, n, w int, q []float32, scale float32)

//go:noescape
func dotsF16K1AVX2(dst []float32, keys []uint16, n, w int, q []float32, scale float32)

//go:noescape
func dotsF32K4Q2AVX2(dst []float32, ldd int, keys []float32, n, w int, q []float32, scale float32)

//go:noescape
func dotsF32K4Q1AVX2(dst []float32, keys []float32, n, w int, q []float32, scale float32)

//go:noescape
func dotsF32K1AVX2(dst []float32, keys []float32, n, w int, q []float32, scale float32)

//go:noescape
func accF16Q4AVX2(out []float32, ldo int, p []float32, ldp int, v []uint16, n, w int)

//go:noescape
func accF16Q1AVX2(out []float32, p []float32, v []uint16, n, w int)

//go:noescape
func accF32Q4AVX2(out []float32, ldo int, p []float32, ldp int, v []float32, n, w int)

//go:noescape
func accF32Q1AVX2(out []float32, p []float32, v []float32, n, w int)

//go:noescape
func expShiftAVX2(x []float32, shift float32) float32

//go:noescape
func maxAVX2(x []float32) float32

//go:noescape
func scaleAVX2(x []float32, a float32)
