//go:build !purego

package kernels

// The dequantization kernels of kvdequant_amd64.s (AVX2, F16C). Callers
// check the lengths: dst holds 32 values for each block of src, and at
// least one block.

//go:noescape
func kvDequantQ8_0AVX2(dst []float32, src []byte)

//go:noescape
func kvDequantQ4_0AVX2(dst []float32, src []byte)
