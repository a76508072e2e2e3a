package kvcache_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// TestAttendBlockMatchesBruteForce checks blocked causal attention of several
// queries at once — each with its own limit, across key blocks, over pruned and
// full segments, every storage type — against brute-force zero-filled
// attention (for q8_0 and q4_0 with the query quantized as attention does:
// see mirror.attend), and the log-normalisers and logits it reports.
func TestAttendBlockMatchesBruteForce(t *testing.T) {
	for ci, tc := range []struct {
		typ  kvcache.DType
		d, n int
	}{
		{kvcache.F32, 8, 150}, {kvcache.F32, 128, 200}, {kvcache.F16, 8, 130}, {kvcache.F16, 64, 260},
		{kvcache.Q8_0, 8, 140}, {kvcache.Q8_0, 128, 200}, {kvcache.Q4_0, 40, 150}, {kvcache.Q4_0, 64, 260},
		{kvcache.F16, 64, 2300}, {kvcache.Q4_0, 32, 2200}, // several chunks (AttendChunk)
	} {
		rng := rand.New(rand.NewPCG(uint64(ci), 3))
		c, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: tc.d, Type: tc.typ, Capacity: tc.n})
		h, m := c.Head(0, 0), newMirror(tc.typ, tc.d, tc.n)
		for p := range tc.n - 6 {
			k, v := randVec(rng, tc.d), randVec(rng, tc.d)
			h.Append(p, k, v)
			m.append(p, k, v)
		}
		for _, values := range []bool{false, true} {
			kept, recent := randSubset(rng, tc.d, 1+rng.IntN(tc.d)), 5+rng.IntN(40)
			var err error
			if values {
				err = h.PruneValues(kept, recent, 6)
			} else {
				err = h.PruneKeys(kept, recent, 6)
			}
			if err != nil {
				t.Fatal(err)
			}
			m.prune(values, kept, recent, 6)
		}
		for _, i := range []int{3, 70, -2} {
			if i < 0 {
				i += h.Len()
			}
			h.Evict(i)
			m.evict(i)
		}
		for p := tc.n - 6; p < tc.n-3; p++ {
			k, v := randVec(rng, tc.d), randVec(rng, tc.d)
			h.Append(p, k, v)
			m.append(p, k, v)
		}
		scale := 1 / math.Sqrt(float64(tc.d))
		s := kvcache.NewScratch(5, tc.d)
		for _, lim := range [][]int{{h.Len()}, {1, 64, 65, 128, h.Len()}, {h.Len(), 2, h.Len() - 1}, {1024, 1025, 2049, h.Len()}} {
			for j := range lim {
				lim[j] = min(lim[j], h.Len())
			}
			q := randVec(rng, len(lim)*tc.d)
			out, lse := make([]float32, len(lim)*tc.d), make([]float32, len(lim))
			h.AttendBlock(out, q, lim, float32(scale), lse, s)
			for j, n := range lim {
				qj := q[j*tc.d : (j+1)*tc.d]
				want, _ := m.attend(qj, n, scale)
				assertClose(t, "AttendBlock output", out[j*tc.d:(j+1)*tc.d], want, 1e-5)
				logits := make([]float32, n)
				h.Logits(logits, qj, n, float32(scale), make([]float32, tc.d))
				wantL := make([]float64, n)
				mx := math.Inf(-1)
				for i := range wantL {
					wantL[i] = m.logit(qj, i, blocked(tc.typ)) * scale
					mx = math.Max(mx, wantL[i])
				}
				assertClose(t, "Logits", logits, wantL, 1e-5)
				var sum float64
				for _, x := range wantL {
					sum += math.Exp(x - mx)
				}
				assertClose(t, "log-normaliser", lse[j:j+1], []float64{mx + math.Log(sum)}, 1e-5*math.Max(1, math.Abs(mx)))
			}
		}
	}
}

// TestAttendBlockWeights checks that AttendBlockWeights returns the outputs
// and normalisers of AttendBlock and, for each query, weights equal to
// exp(logit − normaliser) from Logits, summing to 1; and that every query's
// results are the same bits alone as in a group of any size.
func TestAttendBlockWeights(t *testing.T) {
	for ci, tc := range []struct {
		typ  kvcache.DType
		d, n int
	}{{kvcache.F16, 64, 300}, {kvcache.F32, 13, 140}, {kvcache.F16, 128, 200}, {kvcache.Q8_0, 64, 300}, {kvcache.Q4_0, 40, 200}} {
		rng := rand.New(rand.NewPCG(uint64(ci), 9))
		c, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: tc.d, Type: tc.typ, Capacity: tc.n + 4})
		h := c.Head(0, 0)
		for p := range tc.n {
			h.Append(p, randVec(rng, tc.d), randVec(rng, tc.d))
		}
		if err := h.PruneKeys(randSubset(rng, tc.d, tc.d/2+1), 32, 4); err != nil {
			t.Fatal(err)
		}
		if err := h.PruneValues(randSubset(rng, tc.d, tc.d/3+1), 20, 4); err != nil {
			t.Fatal(err)
		}
		if ci == 0 {
			c = c.Fork() // rows read across a shared prefix and an owned tail
			h = c.Head(0, 0)
		}
		h.Append(tc.n, randVec(rng, tc.d), randVec(rng, tc.d))
		lim := []int{h.Len(), 1, 63, 64, 65, h.Len() - 1, 129}
		m, d := len(lim), tc.d
		q := randVec(rng, m*d)
		scale := float32(1 / math.Sqrt(float64(d)))
		s := kvcache.NewScratch(m, d)
		out, lse := make([]float32, m*d), make([]float32, m)
		h.AttendBlock(out, q, lim, scale, lse, s)
		total := 0
		for _, n := range lim {
			total += n
		}
		outW, lseW, probs := make([]float32, m*d), make([]float32, m), make([]float32, total)
		h.AttendBlockWeights(outW, q, lim, scale, lseW, probs, s)
		off := 0
		for j, n := range lim {
			for c := range d {
				if out[j*d+c] != outW[j*d+c] {
					t.Fatalf("case %d query %d: AttendBlockWeights output differs", ci, j)
				}
			}
			if lse[j] != lseW[j] {
				t.Fatalf("case %d query %d: normaliser %g, AttendBlock %g", ci, j, lseW[j], lse[j])
			}
			logits := make([]float32, n)
			h.Logits(logits, q[j*d:(j+1)*d], n, scale, make([]float32, d))
			var sum float64
			for i, x := range logits {
				want := math.Exp(float64(x - lse[j]))
				got := probs[off+i]
				if math.Abs(float64(got)-want) > 1e-5*want+1e-7 {
					t.Fatalf("case %d query %d token %d: weight %g, want %g", ci, j, i, got, want)
				}
				sum += float64(got)
			}
			if math.Abs(sum-1) > 1e-4 {
				t.Errorf("case %d query %d: weights sum to %g", ci, j, sum)
			}
			// Alone: the same bits.
			o1, l1, p1 := make([]float32, d), make([]float32, 1), make([]float32, n)
			h.AttendBlockWeights(o1, q[j*d:(j+1)*d], lim[j:j+1], scale, l1, p1, kvcache.NewScratch(1, d))
			for c := range d {
				if o1[c] != out[j*d+c] {
					t.Fatalf("case %d query %d: output alone differs at channel %d", ci, j, c)
				}
			}
			for i := range p1 {
				if p1[i] != probs[off+i] {
					t.Fatalf("case %d query %d: weight %d alone differs", ci, j, i)
				}
			}
			if l1[0] != lse[j] {
				t.Fatalf("case %d query %d: normaliser alone differs", ci, j)
			}
			off += n
		}
	}
}
