package kvcache_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// TestAttendBlockMatchesBruteForce checks blocked causal attention of several
// queries at once — each with its own limit, across key blocks, over pruned and
// full segments, f32 and f16 — against brute-force zero-filled attention, and
// the log-normalisers and logits it reports.
func TestAttendBlockMatchesBruteForce(t *testing.T) {
	for ci, tc := range []struct {
		typ  kvcache.DType
		d, n int
	}{
		{kvcache.F32, 8, 150}, {kvcache.F32, 128, 200}, {kvcache.F16, 8, 130}, {kvcache.F16, 64, 260},
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
		for _, lim := range [][]int{{h.Len()}, {1, 64, 65, 128, h.Len()}, {h.Len(), 2, h.Len() - 1}} {
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
					k := m.key(i)
					for c := range k {
						wantL[i] += float64(qj[c]) * k[c] * scale
					}
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
