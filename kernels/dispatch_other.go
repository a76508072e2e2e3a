//go:build !amd64 || purego

package kernels

// Builds without assembly never enable it; the stubs below only satisfy the
// compiler, since the dispatching functions never call them.

func detectAVX2() bool { return false }

func dotAVX2(a, b []float32) float32                 { panic(noAsm) }
func axpyAVX2(y []float32, a float32, x []float32)   { panic(noAsm) }
func dotF16AVX2(w []uint16, x []float32) float32     { panic(noAsm) }
func axpyF16AVX2(y []float32, a float32, x []uint16) { panic(noAsm) }
func f16sToF32sAVX2(dst []float32, src []uint16)     { panic(noAsm) }
func dotQ8_0AVX2(w []byte, x []float32) float32      { panic(noAsm) }
func dotQ4_0AVX2(w []byte, x []float32) float32      { panic(noAsm) }
func swiGLUAVX2(gate, up []float32) int              { panic(noAsm) }

const noAsm = "kernels: assembly kernel called in a build without assembly"
