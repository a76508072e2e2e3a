//go:build !amd64 || purego

package kernels

// Stubs for the kernels of kvaccum_amd64.s: never called without assembly
// (useAVX2 is false).

func kvAccQ8_0Q4AVX2(out []float32, ldo int, p []float32, ldp int, v []byte, n, nb int) {
	panic(noAsm)
}
func kvAccQ8_0Q1AVX2(out []float32, p []float32, v []byte, n, nb int) { panic(noAsm) }
func kvAccQ4_0Q4AVX2(out []float32, ldo int, p []float32, ldp int, v []byte, n, nb int) {
	panic(noAsm)
}
func kvAccQ4_0Q1AVX2(out []float32, p []float32, v []byte, n, nb int) { panic(noAsm) }
