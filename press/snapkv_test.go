package press

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// snapScores is brute-force SnapKV for KV head (l,g) holding keys k at
// positions pos: per query head of the group, softmax of the last window queries
// against all keys (causal inside the window), summed over the window rows for
// each token before the window, pooled (stride 1, same padding; avg counts the
// padding as zeros), then averaged over the group.
func (f *fixture) snapScores(l, g int, k [][]float64, pos []int, window, kernel int, avg bool) []float64 {
	group := f.heads / f.kvh
	var score []float64
	for qh := g * group; qh < (g+1)*group; qh++ {
		q, first := f.queries(l, qh, window)
		p := attn(q, k, pos, first)
		m := 0
		for m < len(pos) && pos[m] < first {
			m++
		}
		v := make([]float64, m)
		for t := range p {
			for s := range v {
				v[s] += p[t][s]
			}
		}
		if score == nil {
			score = make([]float64, m)
		}
		for i := range v {
			pooled := math.Inf(-1)
			if avg {
				pooled = 0
			}
			for j := i - kernel/2; j <= i+kernel/2; j++ {
				switch {
				case j < 0 || j >= m:
				case avg:
					pooled += v[j] / float64(kernel)
				default:
					pooled = math.Max(pooled, v[j])
				}
			}
			score[i] += pooled / float64(group)
		}
	}
	return score
}

// checkSnap checks head (l,g), whose tokens before compression were at
// positions before, against brute-force SnapKV with the given token budget;
// keys of the first pruned tokens of before are zero outside kept.
func checkSnap(t *testing.T, f *fixture, l, g int, before []int, kept []int, pruned, budget, window, kernel int, avg bool) {
	t.Helper()
	h := f.c.Head(l, g)
	got := positions(h)
	if len(before) <= budget {
		if !slices.Equal(got, before) {
			t.Fatalf("layer %d head %d: %d tokens ≤ budget %d, yet positions changed to %v", l, g, len(before), budget, got)
		}
		return
	}
	first := f.n - min(window, len(f.obs.Queries[l])/(f.heads*f.d))
	score := f.snapScores(l, g, rowsAt(f.k[l*f.kvh+g], before, kept, pruned), before, window, kernel, avg)
	var chosen []int // indices into before of the kept earlier tokens
	for i, p := range before[:len(score)] {
		if slices.Contains(got, p) {
			chosen = append(chosen, i)
		}
	}
	what := fmt.Sprintf("layer %d head %d", l, g)
	checkTop(t, what, score, chosen, budget-(len(before)-len(score)), 1e-4)
	if tail := got[len(chosen):]; !slices.Equal(tail, before[len(score):]) || before[len(score)] != first {
		t.Fatalf("%s: window tokens %v, want positions %d..%d", what, tail, first, f.n-1)
	}
	row := make([]float32, f.d)
	for i, p := range got { // kept tokens carry their own keys and values
		h.Value(row, i)
		if !slices.Equal(f64(row), f.v[l*f.kvh+g][p]) {
			t.Fatalf("%s: value of token %d (position %d) is not the original", what, i, p)
		}
	}
}

// TestSnapKVSelection compares SnapKV's kept tokens with brute force for GQA
// groups of 1, 2 and 4, head_dim 8 and 128, max and avg pooling, an observation
// wider than the press's window (as when composed), budget = window, and
// prompts at or under the budget or the window (untouched).
func TestSnapKVSelection(t *testing.T) {
	cases := []struct {
		heads, kvh, d, n, budget, window, kernel int
		pool                                     string
		obsWindow                                int
	}{
		{4, 4, 8, 100, 40, 8, 7, "max", 8},
		{4, 2, 8, 100, 40, 8, 5, "avg", 8},
		{8, 2, 8, 120, 50, 16, 7, "max", 32},
		{8, 2, 128, 120, 50, 16, 7, "avg", 16},
		{4, 2, 128, 90, 30, 10, 1, "max", 10},
		{4, 1, 8, 64, 16, 16, 7, "max", 16}, // budget = window: only the window survives
		{4, 2, 8, 41, 40, 8, 3, "max", 8},   // one token over
		{4, 2, 8, 40, 40, 8, 7, "max", 8},   // prompt = budget
		{4, 2, 8, 5, 40, 8, 7, "avg", 8},    // prompt shorter than the window
	}
	for ci, tc := range cases {
		spec := fmt.Sprintf("snapkv:budget=%d,window=%d,kernel=%d,pool=%s", tc.budget, tc.window, tc.kernel, tc.pool)
		t.Run(fmt.Sprintf("G%d_d%d_%s", tc.heads/tc.kvh, tc.d, spec), func(t *testing.T) {
			extra := 6
			f := newFixture(t, uint64(ci), 2, tc.heads, tc.kvh, tc.d, tc.n, tc.obsWindow, extra, kvcache.F32)
			p := mustParse(t, spec)
			if need := p.Needs(); need == nil || need.Window != tc.window || need.WantColSums {
				t.Fatalf("Needs() = %+v", need)
			}
			if err := p.Compress(f.c, f.obs, tc.heads); err != nil {
				t.Fatal(err)
			}
			s := min(tc.n, tc.budget)
			want := int64(2*2*tc.kvh*(s+extra)*tc.d) * 4 // 2 layers, keys and values, f32
			if got := f.c.Bytes(); got != want {
				t.Errorf("Bytes %d, want 2·layers·heads·(S+gen)·D·4 = %d", got, want)
			}
			for l := range 2 {
				for g := range tc.kvh {
					checkSnap(t, f, l, g, iota(0, tc.n), nil, 0, tc.budget, tc.window, tc.kernel, tc.pool == "avg")
				}
			}
		})
	}
}

// TestPyramidKV checks per-layer budgets fall with depth and average the
// budget, and each layer's selection is SnapKV's with that layer's budget.
func TestPyramidKV(t *testing.T) {
	const layers, heads, kvh, d, n, budget, window = 4, 4, 2, 8, 200, 40, 8
	f := newFixture(t, 11, layers, heads, kvh, d, n, window, 0, kvcache.F32)
	spec := fmt.Sprintf("pyramidkv:budget=%d,window=%d,beta=20", budget, window)
	if err := mustParse(t, spec).Compress(f.c, f.obs, heads); err != nil {
		t.Fatal(err)
	}
	var lens []int
	for l := range layers {
		lens = append(lens, f.c.Head(l, 0).Len())
		for g := range kvh {
			checkSnap(t, f, l, g, iota(0, n), nil, 0, f.c.Head(l, g).Len(), window, 7, false)
		}
	}
	sum := 0
	for l, s := range lens {
		sum += s
		if s < window || l > 0 && s > lens[l-1] {
			t.Fatalf("per-layer budgets %v do not fall with depth from at least the window", lens)
		}
	}
	if lens[0] <= lens[layers-1] || math.Abs(float64(sum)/layers-budget) > 1 {
		t.Fatalf("per-layer budgets %v should fall and average %d", lens, budget)
	}
}
