package kvcache_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// BenchmarkAttendDecode times one decode step of one KV head in Llama shape
// (head_dim 128, 4 query heads per KV head) over 2048 cached tokens, with the
// full cache and with half the key (and value) channels pruned by ThinK,
// keeping 32 recent tokens full: the attention part of decode that ThinK thins.
func BenchmarkAttendDecode(b *testing.B) {
	const d, group, n = 128, 4, 2048
	for _, typ := range []kvcache.DType{kvcache.F16, kvcache.F32} {
		for _, tc := range []struct {
			name         string
			keys, values bool
		}{{"full", false, false}, {"think-keys-0.5", true, false}, {"think-keys+values-0.5", true, true}} {
			b.Run(fmt.Sprintf("%v/%s", typ, tc.name), func(b *testing.B) {
				c, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: d, Type: typ, Capacity: n + 1})
				h := c.Head(0, 0)
				rng := rand.New(rand.NewPCG(1, 1))
				k, v := make([]float32, d), make([]float32, d)
				for i := 0; i < n; i++ {
					for j := range k {
						k[j], v[j] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
					}
					h.Append(i, k, v)
				}
				kept := make([]int, 0, d/2)
				for j := 0; j < d; j += 2 {
					kept = append(kept, j)
				}
				if tc.keys {
					h.PruneKeys(kept, 32, 1)
				}
				if tc.values {
					h.PruneValues(kept, 32, 1)
				}
				q, out := make([]float32, group*d), make([]float32, group*d)
				for j := range q {
					q[j] = float32(rng.NormFloat64())
				}
				lim := []int{n, n, n, n}
				s := kvcache.NewScratch(group, d)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					h.AttendBlock(out, q, lim, 0.088, nil, s)
				}
				b.ReportMetric(float64(h.Bytes())/1e6, "MB")
			})
		}
	}
}
