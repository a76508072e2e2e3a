//go:build !amd64 || purego

package kernels

// Stubs for the attention kernels of attn_amd64.s: never called without
// assembly (useAVX2 is false).

func dotsF16K4Q2AVX2(dst []float32, ldd int, keys []uint16, n, w int, q []float32, scale float32) {
	panic(noAsm)
}
func dotsF16K4Q1AVX2(dst []float32, keys []uint16, n, w int, q []float32, scale float32) {
	panic(noAsm)
}
func dotsF16K1AVX2(dst []float32, keys []uint16, n, w int, q []float32, scale float32) { panic(noAsm) }
func dotsF32K4Q2AVX2(dst []float32, ldd int, keys []float32, n, w int, q []float32, scale float32) {
	panic(noAsm)
}
func dotsF32K4Q1AVX2(dst []float32, keys []float32, n, w int, q []float32, scale float32) {
	panic(noAsm)
}
func dotsF32K1AVX2(dst []float32, keys []float32, n, w int, q []float32, scale float32) {
	panic(noAsm)
}
func accF16Q4AVX2(out []float32, ldo int, p []float32, ldp int, v []uint16, n, w int) {
	panic(noAsm)
}
func accF16Q1AVX2(out []float32, p []float32, v []uint16, n, w int) { panic(noAsm) }
func accF32Q4AVX2(out []float32, ldo int, p []float32, ldp int, v []float32, n, w int) {
	panic(noAsm)
}
func accF32Q1AVX2(out []float32, p []float32, v []float32, n, w int) { panic(noAsm) }
func expShiftAVX2(x []float32, shift float32) float32                { panic(noAsm) }

func maxAVX2(x []float32) float32 { panic(noAsm) }

func scaleAVX2(x []float32, a float32) { panic(noAsm) }

func detectAVX512() bool { return false }

func accF16Q4AVX512(out []float32, ldo int, p []float32, ldp int, v []uint16, n, w int) {
	panic(noAsm)
}
func accF16Q1AVX512(out []float32, ldo int, p []float32, ldp int, v []uint16, n, w int) {
	panic(noAsm)
}
func dotsF16K4Q4AVX512(dst []float32, ldd int, keys []uint16, n, w int, q []float32, mq int, scale float32) {
	panic(noAsm)
}
func expShiftAVX512(x []float32, shift float32) float32 { panic(noAsm) }
