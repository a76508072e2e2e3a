//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

func init() { useGeneric(false) }

// detectAVX2 reports whether the CPU and OS support AVX2, FMA and F16C.
// (x/sys/cpu's HasAVX2 already includes the OS's saving of the YMM state,
// and every AVX2 processor so far has FMA and F16C too.)
func detectAVX2() bool {
	return cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C
}

// The AVX2 kernels, in dot_amd64.s, half_amd64.s and quant_amd64.s.
// Callers check the lengths first: a and b, y and x, w and x, dst and src
// cover the same number of elements, and a quantised row w holds len(x)/32
// blocks.

//go:noescape
func dotAVX2(a, b []float32) float32

//go:noescape
func axpyAVX2(y []float32, a float32, x []float32)

//go:noescape
func dotF16AVX2(w []uint16, x []float32) float32

//go:noescape
func axpyF16AVX2(y []float32, a float32, x []uint16)

//go:noescape
func f16sToF32sAVX2(dst []float32, src []uint16)

//go:noescape
func dotQ8_0AVX2(w []byte, x []float32) float32

//go:noescape
func dotQ4_0AVX2(w []byte, x []float32) float32

// swiGLUAVX2 is in swiglu_amd64.s.
//
//go:noescape
func swiGLUAVX2(gate, up []float32) int
