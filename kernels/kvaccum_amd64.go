//go:build !purego

package kernels

// The weighted-sum kernels of kvaccum_amd64.s (AVX2, FMA, F16C). Callers
// check the lengths: v holds n ≥ 1 rows of nb blocks, out and p the rows
// their strides say (four outputs for the Q4 kernels, one for Q1).

//go:noescape
func kvAccQ8_0Q4AVX2(out []float32, ldo int, p []float32, ldp int, v []byte, n, nb int)

//go:noescape
func kvAccQ8_0Q1AVX2(out []float32, p []float32, v []byte, n, nb int)

//go:noescape
func kvAccQ4_0Q4AVX2(out []float32, ldo int, p []float32, ldp int, v []byte, n, nb int)

//go:noescape
func kvAccQ4_0Q1AVX2(out []float32, p []float32, v []byte, n, nb int)
