package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAttnBlock times the attention kernels on one block of 64 half
// rows and 4 queries (a decode step of a Llama-3-shaped KV head), per row
// width: the dots, the exponentials and the value accumulation. Width 32 is
// the pruned keys of a head of 64 channels under think:ratio=0.5.
func BenchmarkAttnBlock(b *testing.B) {
	const n, m = 64, 4
	r := rand.New(rand.NewPCG(1, 2))
	for _, w := range []int{32, 64, 128} {
		rows := make([]uint16, n*w)
		randF16s(r, rows)
		q := make([]float32, m*w)
		randF32s(r, q)
		l := make([]float32, m*n)
		out := make([]float32, m*w)
		b.Run(fmt.Sprintf("dots/w%d", w), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				AttnDotsF16(l, n, rows, q, w, 0.1)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*m), "ns/pair")
		})
		b.Run(fmt.Sprintf("accum/w%d", w), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				AttnAccumF16(out, w, l, n, m, rows, w)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*m), "ns/pair")
		})
	}
	x := make([]float32, n)
	b.Run("exp", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ExpShift(x, 0)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/pair")
	})
}
