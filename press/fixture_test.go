package press

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// fixture is a prefilled cache with its Observation and an independent copy of
// every original key and value, for checking presses against brute force.
type fixture struct {
	layers, heads, kvh, d, n int
	k, v                     [][][]float64 // [layer*kvh+g][position][channel]
	obs                      *kvcache.Observation
	c                        *kvcache.Cache
}

// newFixture fills a cache of n random tokens (room for extra more) and an
// Observation holding the last min(window, n) queries and random column sums.
func newFixture(t *testing.T, seed uint64, layers, heads, kvh, d, n, window, extra int, typ kvcache.DType) *fixture {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(d*1000+heads*10+kvh)))
	c, err := kvcache.New(kvcache.Config{Layers: layers, KVHeads: kvh, HeadDim: d, Type: typ, Capacity: n + extra})
	if err != nil {
		t.Fatal(err)
	}
	// Keys scaled so that q·k/√D spreads over a few units: peaked attention.
	kScale := 2.0
	for l := range layers {
		for g := range kvh {
			for p := range n {
				k, v := make([]float32, d), make([]float32, d)
				for j := range d {
					k[j] = float32(rng.NormFloat64() * kScale)
					v[j] = float32(rng.NormFloat64())
				}
				c.Head(l, g).Append(p, k, v)
			}
		}
	}
	c.Advance(n)
	w := min(window, n)
	obs := &kvcache.Observation{Window: window, Queries: make([][]float32, layers), ColSums: make([][]float32, layers)}
	for l := range layers {
		obs.Queries[l] = make([]float32, w*heads*d)
		for i := range obs.Queries[l] {
			obs.Queries[l][i] = float32(rng.NormFloat64())
		}
		obs.ColSums[l] = make([]float32, heads*n)
		for i := range obs.ColSums[l] {
			obs.ColSums[l][i] = float32(rng.ExpFloat64())
		}
	}
	return snapshot(c, heads, obs)
}

// snapshot copies the keys and values of an uncompressed cache.
func snapshot(c *kvcache.Cache, heads int, obs *kvcache.Observation) *fixture {
	cfg := c.Config()
	f := &fixture{layers: cfg.Layers, heads: heads, kvh: cfg.KVHeads, d: cfg.HeadDim, n: c.Next(), obs: obs, c: c}
	row := make([]float32, f.d)
	for l := range f.layers {
		for g := range f.kvh {
			h := c.Head(l, g)
			var ks, vs [][]float64
			for i := range h.Len() {
				h.Key(row, i)
				ks = append(ks, f64(row))
				h.Value(row, i)
				vs = append(vs, f64(row))
			}
			f.k, f.v = append(f.k, ks), append(f.v, vs)
		}
	}
	return f
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// queries returns the last min(w, observed) window queries of query head qh in
// layer l, and the position of the first of them.
func (f *fixture) queries(l, qh, w int) ([][]float64, int) {
	rows := len(f.obs.Queries[l]) / (f.heads * f.d)
	w = min(w, rows)
	var q [][]float64
	for t := rows - w; t < rows; t++ {
		o := t*f.heads*f.d + qh*f.d
		q = append(q, f64(f.obs.Queries[l][o:o+f.d]))
	}
	return q, f.n - w
}

// rowsAt returns the given original rows of head (l,g), zero outside kept in
// the first pruned of them (kept nil: nothing zeroed).
func rowsAt(src [][]float64, pos []int, kept []int, pruned int) [][]float64 {
	out := make([][]float64, len(pos))
	for i, p := range pos {
		out[i] = slices.Clone(src[p])
		if i < pruned && kept != nil {
			for j := range out[i] {
				if !slices.Contains(kept, j) {
					out[i][j] = 0
				}
			}
		}
	}
	return out
}

// attn returns the causal window attention softmax(q·kᵀ/√D): query t, at
// position first+t, sees the tokens at positions ≤ first+t.
func attn(q, k [][]float64, pos []int, first int) [][]float64 {
	d := len(q[0])
	p := make([][]float64, len(q))
	for t := range q {
		p[t] = make([]float64, len(k))
		mx, sum := math.Inf(-1), 0.0
		for s := range k {
			if pos[s] <= first+t {
				for j := range d {
					p[t][s] += q[t][j] * k[s][j]
				}
				p[t][s] /= math.Sqrt(float64(d))
				mx = math.Max(mx, p[t][s])
			}
		}
		for s := range k {
			if pos[s] <= first+t {
				p[t][s] = math.Exp(p[t][s] - mx)
				sum += p[t][s]
			}
		}
		for s := range k {
			if pos[s] <= first+t {
				p[t][s] /= sum
			} else {
				p[t][s] = 0
			}
		}
	}
	return p
}

// topSet marks the k highest scores, ties going to the lower index: item i is
// chosen when fewer than k items beat it.
func topSet(score []float64, k int) []bool {
	in := make([]bool, len(score))
	for i := range score {
		beat := 0
		for u := range score {
			if score[u] > score[i] || score[u] == score[i] && u < i {
				beat++
			}
		}
		in[i] = beat < k
	}
	return in
}

// checkTop checks that got (sorted indices into score) is the brute-force top k.
// Where float32 arithmetic in the code may legitimately flip a near tie, items
// that differ must lie within rel of the k-th largest score.
func checkTop(t *testing.T, what string, score []float64, got []int, k int, rel float64) {
	t.Helper()
	want := topSet(score, k)
	if len(got) != min(k, len(score)) {
		t.Fatalf("%s: %d chosen, want %d", what, len(got), min(k, len(score)))
	}
	gotSet := make([]bool, len(score))
	for _, i := range got {
		gotSet[i] = true
	}
	if slices.Equal(gotSet, want) {
		return
	}
	sorted := slices.Clone(score)
	sort.Sort(sort.Reverse(sort.Float64Slice(sorted)))
	thr := sorted[k-1]
	for i := range score {
		if gotSet[i] != want[i] && math.Abs(score[i]-thr) > rel*math.Abs(thr) {
			t.Fatalf("%s: item %d (score %.9g, k-th score %.9g) chosen=%v, brute force says %v", what, i, score[i], thr, gotSet[i], want[i])
		}
	}
	t.Logf("%s: selection differs from brute force only on near ties (≤ %g relative)", what, rel)
}

func positions(h *kvcache.Head) []int {
	out := make([]int, h.Len())
	for i, p := range h.Pos {
		out[i] = int(p)
	}
	return out
}

func iota(lo, hi int) []int {
	var out []int
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

func mustParse(t *testing.T, spec string) Press {
	t.Helper()
	p, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
