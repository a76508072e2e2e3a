package kvcache_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// TestAttendPartsMatchBlock checks that a head's chunks computed apart
// (AttendPart, each into its own Partial, as parallel workers would) and
// merged left to right (Merge, then Finish) give AttendBlock's outputs and
// log-normalisers bit for bit, over pruned keys and values, evicted and
// appended tokens, for queries whose limits end before, at and after chunk
// boundaries.
func TestAttendPartsMatchBlock(t *testing.T) {
	for _, typ := range []kvcache.DType{kvcache.F16, kvcache.Q4_0} {
		const d, n = 64, 2700
		rng := rand.New(rand.NewPCG(9, uint64(typ)))
		c, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: d, Type: typ, Capacity: n})
		h := c.Head(0, 0)
		for p := range n - 10 {
			h.Append(p, randVec(rng, d), randVec(rng, d))
		}
		if err := h.PruneKeys(randSubset(rng, d, 32), 40, 6); err != nil {
			t.Fatal(err)
		}
		if err := h.PruneValues(randSubset(rng, d, 32), 40, 6); err != nil {
			t.Fatal(err)
		}
		h.Evict(500)
		for p := n - 10; p < n; p++ {
			h.Append(p, randVec(rng, d), randVec(rng, d))
		}
		lim := []int{h.Len(), 1000, 1024, 1025, 2048, 2049, 7}
		m := len(lim)
		q := randVec(rng, m*d)
		want, wantLSE := make([]float32, m*d), make([]float32, m)
		s := kvcache.NewScratch(m, d)
		h.AttendBlock(want, q, lim, 0.125, wantLSE, s)

		chunks := (h.Len() + kvcache.AttendChunk - 1) / kvcache.AttendChunk
		if chunks < 3 {
			t.Fatalf("%d chunks: the test needs three", chunks)
		}
		parts := make([]*kvcache.Partial, chunks)
		for c := chunks - 1; c >= 0; c-- { // in any order, each on its own
			parts[c] = kvcache.NewPartial(m+2, d)
			h.AttendPart(parts[c], q, lim, 0.125, c, kvcache.NewScratch(m, d))
		}
		for c := 1; c < chunks; c++ {
			parts[0].Merge(parts[c], lim, c)
		}
		got, lse := make([]float32, m*d), make([]float32, m)
		h.Finish(got, lim, lse, parts[0])
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%v: output %d (query %d): %v from parts, %v from AttendBlock", typ, i, i/d, got[i], want[i])
			}
		}
		for j := range lse {
			if math.Float32bits(lse[j]) != math.Float32bits(wantLSE[j]) {
				t.Fatalf("%v: query %d: log-normaliser %v from parts, %v from AttendBlock", typ, j, lse[j], wantLSE[j])
			}
		}
	}
}
