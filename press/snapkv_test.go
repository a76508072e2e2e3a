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
	_, nv := h.Split()
	vals := rowsAt(f.v[l*f.kvh+g], got, h.ValKept, nv)
	row := make([]float32, f.d)
	for i, p := range got { // kept tokens carry their own values
		h.Value(row, i)
		if !slices.Equal(f64(row), vals[i]) {
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

// TestPyramidKV checks the per-layer budgets — window + round(max − l·(max−min)/(L−1))
// with min = (B−W)/β and max = 2(B−W) − min, so they fall linearly and
// average B — and that each layer's selection is SnapKV's with its budget.
func TestPyramidKV(t *testing.T) {
	const layers, heads, kvh, d, n, budget, window = 4, 4, 2, 8, 200, 40, 8
	for _, tc := range []struct {
		beta string
		want []int
	}{
		{"20", []int{70, 50, 30, 10}}, // min 1.6, max 62.4
		{"2", []int{56, 45, 35, 24}},  // min 16, max 48
		{"1", []int{40, 40, 40, 40}},  // β = 1: uniform
	} {
		f := newFixture(t, 11, layers, heads, kvh, d, n, window, 0, kvcache.F32)
		spec := fmt.Sprintf("pyramidkv:budget=%d,window=%d,beta=%s", budget, window, tc.beta)
		if err := mustParse(t, spec).Compress(f.c, f.obs, heads); err != nil {
			t.Fatal(err)
		}
		for l := range layers {
			for g := range kvh {
				if got := f.c.Head(l, g).Len(); got != tc.want[l] {
					t.Fatalf("%s: layer %d keeps %d tokens, want %d (budgets %v)", spec, l, got, tc.want[l], tc.want)
				}
				checkSnap(t, f, l, g, iota(0, n), nil, 0, tc.want[l], window, 7, false)
			}
		}
	}
}

// TestSelectionTies builds exact ties on purpose: one token that every window
// query attends to, which max pooling spreads over kernel neighbours, and
// uniform attention elsewhere. The earlier of equal tokens must be kept, by
// SnapKV and by H2O alike.
func TestSelectionTies(t *testing.T) {
	const n, d, window = 40, 8, 4
	for _, tc := range []struct {
		spec string
		want []int
	}{
		{"snapkv:budget=7,window=4,kernel=7", []int{7, 8, 9}},                           // inside the plateau 7..13
		{"snapkv:budget=14,window=4,kernel=7", []int{0, 1, 2, 7, 8, 9, 10, 11, 12, 13}}, // plateau, then the earliest flat ones
		{"h2o:budget=10,recent=4", []int{0, 1, 2, 3, 4, 5}},                             // all column sums equal
	} {
		c, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: d, Type: kvcache.F32, Capacity: n})
		for p := range n {
			k := make([]float32, d)
			if p == 10 {
				k[0] = 8
			}
			c.Head(0, 0).Append(p, k, k)
		}
		c.Advance(n)
		obs := &kvcache.Observation{Window: window, Queries: [][]float32{make([]float32, window*2*d)}, ColSums: [][]float32{make([]float32, 2*n)}}
		for i := range obs.Queries[0] {
			obs.Queries[0][i] = 1
		}
		for i := range obs.ColSums[0] {
			obs.ColSums[0][i] = 0.5
		}
		if err := mustParse(t, tc.spec).Compress(c, obs, 2); err != nil {
			t.Fatal(err)
		}
		tail := n - 4
		if want := append(tc.want, iota(tail, n)...); !slices.Equal(positions(c.Head(0, 0)), want) {
			t.Errorf("%s: positions %v, want %v", tc.spec, positions(c.Head(0, 0)), want)
		}
	}
}
