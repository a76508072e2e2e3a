package kvcache_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// TestBlockedValuesExact checks that the values of a q8_0 or q4_0 cache are
// weighted exactly as attention over their dequantized rows is: with all
// keys zero (every logit is 0 whatever the query's quantization), a blocked
// cache — values pruned, forked, packed, extended — and an f32 cache
// holding the values the blocked one reads back (Head.Value), pruned the
// same way, give the same outputs bit for bit.
func TestBlockedValuesExact(t *testing.T) {
	for _, typ := range []kvcache.DType{kvcache.Q8_0, kvcache.Q4_0} {
		for _, d := range []int{8, 40, 64} {
			rng := rand.New(rand.NewPCG(uint64(d), 31))
			c, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: d, Type: typ, Capacity: 400})
			zero := make([]float32, d)
			for p := range 300 {
				c.Head(0, 0).Append(p, zero, randVec(rng, d))
			}
			c.Advance(300)
			kept := randSubset(rng, d, d/2+1)
			if err := c.Head(0, 0).PruneValues(kept, 40, 10); err != nil {
				t.Fatal(err)
			}
			c = c.Fork()
			h := c.Head(0, 0)
			for p := 300; p < 320; p++ {
				h.Append(p, zero, randVec(rng, d))
			}
			h.Pack(7)
			_, nv := h.Split()

			f, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: d, Type: kvcache.F32, Capacity: 400})
			g := f.Head(0, 0)
			row := make([]float32, d)
			for i := range h.Len() {
				h.Value(row, i)
				g.Append(int(h.Pos[i]), zero, row)
			}
			if err := g.PruneValues(kept, h.Len()-nv, 0); err != nil {
				t.Fatal(err)
			}
			lim := []int{h.Len(), 1, 64, 65, nv, h.Len() - 1}
			q := randVec(rng, len(lim)*d)
			got, want := make([]float32, len(lim)*d), make([]float32, len(lim)*d)
			h.AttendBlock(got, q, lim, 0.125, nil, kvcache.NewScratch(len(lim), d))
			g.AttendBlock(want, q, lim, 0.125, nil, kvcache.NewScratch(len(lim), d))
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v d=%d: output %d = %g, attention over the dequantized values %g", typ, d, i, got[i], want[i])
				}
			}
		}
	}
}
