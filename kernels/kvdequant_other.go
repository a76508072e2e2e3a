//go:build !amd64 || purego

package kernels

// Stubs for the kernels of kvdequant_amd64.s: never called without
// assembly (useAVX2 is false).

func kvDequantQ8_0AVX2(dst []float32, src []byte) { panic(noAsm) }
func kvDequantQ4_0AVX2(dst []float32, src []byte) { panic(noAsm) }
