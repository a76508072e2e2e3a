package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The benchmarks below run each exported kernel through both dispatch
// paths, asm and go, side by side for a few row lengths, and report the
// bytes each call touches as MB/s. n=4096 f32 rows (16 KiB each) stay in
// the L1/L2 caches, so these are compute numbers, not DRAM ones.

var benchLengths = []int{64, 512, 4096}

var sink float32

// benchPaths runs body as sub-benchmarks n=…/asm and n=…/go for each
// length, with the dispatch forced to the assembly or Go kernels; bytes(n)
// is the memory one call reads or writes. It skips asm where there is none.
func benchPaths(b *testing.B, bytes func(n int) int, setup func(n int) func()) {
	defer useGeneric(false)
	for _, n := range benchLengths {
		body := setup(n)
		for _, path := range []string{"asm", "go"} {
			b.Run(fmt.Sprintf("n=%d/%s", n, path), func(b *testing.B) {
				useGeneric(path == "go")
				if path == "asm" && !useAVX2 {
					b.Skip("no assembly kernels in this build or on this CPU")
				}
				b.SetBytes(int64(bytes(n)))
				for b.Loop() {
					body()
				}
			})
		}
	}
}

func benchVectors(n int) (a, b []float32, h []uint16) {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	a, b, h = make([]float32, n), make([]float32, n), make([]uint16, n)
	randF32s(r, a)
	randF32s(r, b)
	randF16s(r, h)
	return a, b, h
}

func BenchmarkDot(b *testing.B) {
	b.Run("f32", func(b *testing.B) {
		benchPaths(b, func(n int) int { return 8 * n }, func(n int) func() {
			x, y, _ := benchVectors(n)
			return func() { sink += Dot(x, y) }
		})
	})
	b.Run("f16", func(b *testing.B) {
		benchPaths(b, func(n int) int { return 6 * n }, func(n int) func() {
			_, x, h := benchVectors(n)
			return func() { sink += DotF16(h, x) }
		})
	})
	b.Run("q8_0", func(b *testing.B) {
		benchPaths(b, func(n int) int { return n/QK8_0*BlockBytesQ8_0 + 4*n }, func(n int) func() {
			w, x, _ := benchVectors(n)
			q := make([]byte, n/QK8_0*BlockBytesQ8_0)
			QuantizeQ8_0(q, w)
			return func() { sink += DotQ8_0(q, x) }
		})
	})
	b.Run("q4_0", func(b *testing.B) {
		benchPaths(b, func(n int) int { return n/QK4_0*BlockBytesQ4_0 + 4*n }, func(n int) func() {
			w, x, _ := benchVectors(n)
			q := make([]byte, n/QK4_0*BlockBytesQ4_0)
			QuantizeQ4_0(q, w)
			return func() { sink += DotQ4_0(q, x) }
		})
	})
}

func BenchmarkAxpy(b *testing.B) {
	b.Run("f32", func(b *testing.B) {
		benchPaths(b, func(n int) int { return 12 * n }, func(n int) func() {
			x, y, _ := benchVectors(n)
			return func() { Axpy(y, 1e-3, x) }
		})
	})
	b.Run("f16", func(b *testing.B) {
		benchPaths(b, func(n int) int { return 10 * n }, func(n int) func() {
			_, y, h := benchVectors(n)
			return func() { AxpyF16(y, 1e-3, h) }
		})
	})
}

func BenchmarkF16sToF32s(b *testing.B) {
	benchPaths(b, func(n int) int { return 6 * n }, func(n int) func() {
		dst, _, h := benchVectors(n)
		return func() { F16sToF32s(dst, h) }
	})
}
