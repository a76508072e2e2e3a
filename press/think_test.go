package press

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kvcache"
)

// keyScores is brute-force ThinK for KV head (l,g) with keys k: per query head
// of the group, ‖Q_w[:,j] K[:,j]ᵀ‖_F² computed literally as Σ_t Σ_s (q_tj·k_sj)²,
// divided by w·S (the mean form ranks identically), averaged over the group.
func (f *fixture) keyScores(l, g int, k [][]float64, window int) []float64 {
	group := f.heads / f.kvh
	score := make([]float64, f.d)
	for qh := g * group; qh < (g+1)*group; qh++ {
		q, _ := f.queries(l, qh, window)
		for j := range f.d {
			var fro float64
			for t := range q {
				for s := range k {
					x := q[t][j] * k[s][j]
					fro += x * x
				}
			}
			score[j] += fro / float64(len(q)*len(k)*group)
		}
	}
	return score
}

// valueScores is brute-force think-v: per query head, the L2 norm over the
// window of channel j of softmax(Q_w Kᵀ/√D)·V (causal), averaged over the group.
func (f *fixture) valueScores(l, g int, k, v [][]float64, pos []int, window int) []float64 {
	group := f.heads / f.kvh
	score := make([]float64, f.d)
	for qh := g * group; qh < (g+1)*group; qh++ {
		q, first := f.queries(l, qh, window)
		p := attn(q, k, pos, first)
		for j := range f.d {
			var norm float64
			for t := range q {
				var o float64
				for s := range v {
					o += p[t][s] * v[s][j]
				}
				norm += o * o
			}
			score[j] += math.Sqrt(norm) / float64(group)
		}
	}
	return score
}

func closeRel(t *testing.T, what string, got, want []float64, rel float64) {
	t.Helper()
	for j := range want {
		if math.Abs(got[j]-want[j]) > rel*math.Abs(want[j])+1e-300 {
			t.Fatalf("%s: channel %d score %.12g, brute force %.12g", what, j, got[j], want[j])
		}
	}
}

// runThinK compresses f with spec and checks every head against brute force:
// the channel scores and kept sets, the segment split and the bytes.
func runThinK(t *testing.T, f *fixture, spec string, ratio float64, recent, window, gen int, values bool) {
	t.Helper()
	p := mustParse(t, spec)
	want := make([][]float64, f.layers*f.kvh)
	for l := range f.layers {
		for g := range f.kvh {
			pos := iota(0, f.n)
			v := view{obs: f.obs, layer: l, kv: g, heads: f.heads, group: f.heads / f.kvh, d: f.d, prompt: f.n}
			what := fmt.Sprintf("%s layer %d head %d", spec, l, g)
			if values {
				want[l*f.kvh+g] = f.valueScores(l, g, f.k[l*f.kvh+g], f.v[l*f.kvh+g], pos, window)
				closeRel(t, what, v.valueScores(f.c.Head(l, g), window), want[l*f.kvh+g], 1e-5)
			} else {
				want[l*f.kvh+g] = f.keyScores(l, g, f.k[l*f.kvh+g], window)
				closeRel(t, what, v.keyScores(f.c.Head(l, g), window), want[l*f.kvh+g], 1e-9)
			}
		}
	}
	before := f.c.Bytes()
	if err := p.Compress(f.c, f.obs, f.heads); err != nil {
		t.Fatal(err)
	}
	pruned := int(math.Floor(ratio * float64(f.d))) // exact here: no ratio·D near an integer
	tk := f.d - pruned
	r := min(recent, f.n)
	for l := range f.layers {
		for g := range f.kvh {
			h := f.c.Head(l, g)
			kept, other := h.KeyKept, h.ValKept
			if values {
				kept, other = other, kept
			}
			nk, nv := h.Split()
			if pruned == 0 {
				if kept != nil || nk != 0 || nv != 0 || f.c.Bytes() != before {
					t.Fatalf("%s: ratio %g changed the cache", spec, ratio)
				}
				continue
			}
			if other != nil {
				t.Fatalf("%s: the other channel set was pruned too", spec)
			}
			checkTop(t, fmt.Sprintf("%s layer %d head %d", spec, l, g), want[l*f.kvh+g], kept, tk, 1e-6)
			if split := max(nk, nv); split != f.n-r || nk+nv != split {
				t.Fatalf("%s: Split (%d,%d), want %d pruned tokens", spec, nk, nv, f.n-r)
			}
		}
	}
	if pruned > 0 {
		size := int64(f.c.Config().Type.Size())
		// The segment left unpruned keeps the rows appending grew it to:
		// 64 doubled ⌈log2(n/64)⌉ times, at most the cache's limit n+gen.
		untouched := min(f.n+gen, 64<<bits.Len(uint((f.n-1)/64)))
		perHead := (f.n-r)*tk + (r+gen)*f.d + untouched*f.d
		if want := int64(f.layers*f.kvh*perHead) * size; f.c.Bytes() != want {
			t.Fatalf("%s: Bytes %d, want closed form %d", spec, f.c.Bytes(), want)
		}
	}
}

// goldenCache returns the stories260K cache after "Once upon a time…" (5
// layers, 256 tokens, 4 KV heads × 8, post-RoPE) with room for gen more
// tokens, and the last position's queries (8 heads × 8: a window of 1,
// groups of 2) as its observation.
func goldenCache(t *testing.T, gen int) (*kvcache.Cache, *kvcache.Observation) {
	t.Helper()
	const layers, n, kvh, heads, d = 5, 256, 4, 8, 8
	data, err := os.ReadFile(sharedtest.Path(t, "golden", "stories260K", "once_upon_a_time.kv_qlast.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if want := 4 * (2*layers*n*kvh*d + layers*heads*d); len(data) != want {
		t.Fatalf("%d bytes, want %d", len(data), want)
	}
	at := func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])) }
	vOff, qOff := layers*n*kvh*d, 2*layers*n*kvh*d
	c, _ := kvcache.New(kvcache.Config{Layers: layers, KVHeads: kvh, HeadDim: d, Type: kvcache.F32, Capacity: n + gen})
	obs := &kvcache.Observation{Window: 1, Queries: make([][]float32, layers)}
	for l := range layers {
		for p := range n {
			for g := range kvh {
				k, v := make([]float32, d), make([]float32, d)
				for j := range d {
					k[j] = at(((l*n+p)*kvh+g)*d + j)
					v[j] = at(vOff + ((l*n+p)*kvh+g)*d + j)
				}
				c.Head(l, g).Append(p, k, v)
			}
		}
		for i := range heads * d {
			obs.Queries[l] = append(obs.Queries[l], at(qOff+l*heads*d+i))
		}
	}
	c.Advance(n)
	return c, obs
}

// TestThinKGolden scores the stories260K K cache after "Once upon a time…"
// with the last position's queries (goldenCache).
func TestThinKGolden(t *testing.T) {
	for _, ratio := range []float64{0, 0.25, 0.5, 0.75, 0.99} {
		const gen = 3
		c, obs := goldenCache(t, gen)
		f := snapshot(c, 8, obs)
		runThinK(t, f, fmt.Sprintf("think:ratio=%g", ratio), ratio, 32, 32, gen, false)
		if ratio == 0.5 {
			t.Logf("layer 0 kept channels per KV head: %v %v %v %v",
				c.Head(0, 0).KeyKept, c.Head(0, 1).KeyKept, c.Head(0, 2).KeyKept, c.Head(0, 3).KeyKept)
		}
	}
}

// TestThinKRandom covers GQA groups of 1, 2, 4, head_dim 8 and 128, λ = 0 and
// close to 1, a window wider than the prompt, recent ≥ prompt, f16 storage and
// value pruning.
func TestThinKRandom(t *testing.T) {
	cases := []struct {
		heads, kvh, d, n, window, recent int
		ratio                            float64
		typ                              kvcache.DType
		values                           bool
	}{
		{4, 4, 8, 64, 8, 16, 0.5, kvcache.F32, false},
		{4, 2, 8, 64, 8, 16, 0.25, kvcache.F32, false},
		{8, 2, 128, 80, 16, 32, 0.5, kvcache.F32, false},
		{8, 2, 128, 80, 16, 32, 0.99, kvcache.F16, false}, // 126 of 128 pruned
		{4, 2, 8, 40, 32, 8, 0.99, kvcache.F32, false},    // 7 of 8 pruned
		{4, 2, 8, 40, 32, 8, 0, kvcache.F32, false},
		{4, 1, 8, 10, 32, 32, 0.5, kvcache.F32, false}, // window and recent beyond the prompt
		{4, 4, 8, 64, 8, 16, 0.5, kvcache.F32, true},
		{8, 2, 8, 50, 16, 4, 0.75, kvcache.F16, true},
		{8, 2, 128, 80, 16, 32, 0.5, kvcache.F32, true},
		{8, 2, 128, 80, 16, 32, 0, kvcache.F32, true},
	}
	for ci, tc := range cases {
		name := "think"
		if tc.values {
			name = "think-v"
		}
		spec := fmt.Sprintf("%s:ratio=%g,recent=%d,window=%d", name, tc.ratio, tc.recent, tc.window)
		t.Run(fmt.Sprintf("G%d_d%d_%v_%s", tc.heads/tc.kvh, tc.d, tc.typ, spec), func(t *testing.T) {
			f := newFixture(t, uint64(ci), 2, tc.heads, tc.kvh, tc.d, tc.n, tc.window, 5, tc.typ)
			runThinK(t, f, spec, tc.ratio, tc.recent, tc.window, 5, tc.values)
		})
	}
}

// TestThinKTies checks that among equal scores the lower channel index is kept.
func TestThinKTies(t *testing.T) {
	for _, tc := range []struct {
		scale []float64
		ratio float64
		want  []int
	}{
		{[]float64{5, 1, 3, 3, 7, 3, 2, 9}, 0.375, []int{0, 2, 3, 4, 7}}, // prunes 1, 6 and the last 3: 5
		{[]float64{5, 1, 3, 3, 7, 3, 2, 9}, 0.5, []int{0, 2, 4, 7}},
		{[]float64{1, 1, 1, 1, 1, 1, 1, 1}, 0.5, []int{0, 1, 2, 3}},
		{[]float64{2, 2, 1, 1, 2, 2, 1, 1}, 0.75, []int{0, 1}},
	} {
		// Column j of every key is scale[j] times one random column, and the
		// queries are equal across channels: equal scales tie exactly.
		rng := rand.New(rand.NewPCG(1, 2))
		c, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: 8, Type: kvcache.F32, Capacity: 20})
		for p := range 20 {
			x, k := rng.NormFloat64(), make([]float32, 8)
			for j := range k {
				k[j] = float32(tc.scale[j] * x)
			}
			c.Head(0, 0).Append(p, k, k)
		}
		c.Advance(20)
		obs := &kvcache.Observation{Window: 4, Queries: [][]float32{make([]float32, 4*2*8)}}
		for i := range obs.Queries[0] {
			if i%8 == 0 {
				obs.Queries[0][i] = float32(rng.NormFloat64())
			} else {
				obs.Queries[0][i] = obs.Queries[0][i-1]
			}
		}
		f := snapshot(c, 2, obs)
		if err := mustParse(t, fmt.Sprintf("think:ratio=%g,recent=4", tc.ratio)).Compress(c, obs, 2); err != nil {
			t.Fatal(err)
		}
		if got := c.Head(0, 0).KeyKept; !slices.Equal(got, tc.want) {
			t.Errorf("scales %v ratio %g: kept %v, want %v", tc.scale, tc.ratio, got, tc.want)
		}
		checkTop(t, "ties", f.keyScores(0, 0, f.k[0], 4), c.Head(0, 0).KeyKept, len(tc.want), 0)
	}
}

// TestPruned checks P = floor(λ·D), never all D channels.
func TestPruned(t *testing.T) {
	for _, tc := range []struct {
		ratio   float64
		d, want int
	}{{0, 8, 0}, {0.5, 8, 4}, {0.4, 128, 51}, {0.6, 128, 76}, {0.29, 100, 29}, {0.99, 8, 7},
		{0.99, 128, 126}, {0.9999999999, 8, 7}, {0.9999999999999, 128, 127}} {
		if got := Pruned(tc.ratio, tc.d); got != tc.want {
			t.Errorf("Pruned(%g, %d) = %d, want %d", tc.ratio, tc.d, got, tc.want)
		}
	}
	// A ratio just under 1 must still leave a usable cache.
	f := newFixture(t, 5, 1, 2, 1, 8, 20, 4, 0, kvcache.F32)
	if err := mustParse(t, "think:ratio=0.9999999999,recent=4").Compress(f.c, f.obs, 2); err != nil {
		t.Fatal(err)
	}
	if kept := f.c.Head(0, 0).KeyKept; len(kept) != 1 {
		t.Fatalf("kept %v, want one channel", kept)
	}
}
