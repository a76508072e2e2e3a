package press

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
	"github.com/thinkv/thinkv/tokenizer"
)

// allotRef is the adaptive allocation written out by brute force: every head
// keeps its floor best channels by score (topSet), then all other (head,
// channel) pairs, ranked by share of their head's score sum (larger first;
// ties: the lower channel, then the lower head), fill the rest of total. It
// returns each head's kept set.
func allotRef(scores [][]float64, total, floor int) [][]bool {
	type pair struct {
		h, j  int
		share float64
	}
	kept := make([][]bool, len(scores))
	var rest []pair
	for h, s := range scores {
		kept[h] = topSet(s, floor)
		var sum float64
		for _, x := range s {
			sum += x
		}
		for j, x := range s {
			if !kept[h][j] {
				share := 0.0 // a head without score has no preference
				if sum > 0 {
					share = x / sum
				}
				rest = append(rest, pair{h, j, share})
			}
		}
	}
	sort.Slice(rest, func(a, b int) bool {
		p, q := rest[a], rest[b]
		if p.share != q.share {
			return p.share > q.share
		}
		if p.j != q.j {
			return p.j < q.j
		}
		return p.h < q.h
	})
	for _, p := range rest[:total-len(scores)*floor] {
		kept[p.h][p.j] = true
	}
	return kept
}

// bestTotalShare returns, by exhaustive search over every allocation of
// total channels with floor to D per head (each head keeping its best k),
// the most total share a layer can keep.
func bestTotalShare(scores [][]float64, total, floor int) float64 {
	// top[h][k] is the share of head h's best k channels.
	top := make([][]float64, len(scores))
	for h, s := range scores {
		sh := shares(s)
		sorted := slices.Clone(sh)
		sort.Sort(sort.Reverse(sort.Float64Slice(sorted)))
		top[h] = make([]float64, len(s)+1)
		for k, x := range sorted {
			top[h][k+1] = top[h][k] + x
		}
	}
	var best func(h, left int) float64
	best = func(h, left int) float64 {
		if h == len(scores) {
			if left == 0 {
				return 0
			}
			return math.Inf(-1)
		}
		b := math.Inf(-1)
		for k := floor; k <= min(left, len(scores[h])); k++ {
			b = math.Max(b, top[h][k]+best(h+1, left-k))
		}
		return b
	}
	return best(0, total)
}

// checkAllot checks allotByShare on one layer's scores against allotRef and
// the exhaustive optimum, and the floor, the total and the cap of D.
func checkAllot(t *testing.T, what string, scores [][]float64, total, floor int) []int {
	t.Helper()
	got := allotByShare(scores, total, floor)
	want := allotRef(scores, total, floor)
	d, sum := len(scores[0]), 0
	var kept float64
	for h, k := range got {
		sum += k
		if k < floor || k > d {
			t.Fatalf("%s: head %d keeps %d channels, want %d to %d", what, h, k, floor, d)
		}
		in := make([]bool, d)
		for _, j := range KeptChannels(scores[h], d-k) {
			in[j] = true
			kept += shares(scores[h])[j]
		}
		if !slices.Equal(in, want[h]) {
			t.Fatalf("%s: head %d keeps %v, brute force %v (counts %v)", what, h, in, want[h], got)
		}
	}
	if sum != total {
		t.Fatalf("%s: %d channels kept in all, want %d", what, sum, total)
	}
	if len(scores) <= 4 {
		if best := bestTotalShare(scores, total, floor); kept < best-1e-9 {
			t.Fatalf("%s: kept share %.15g, exhaustive optimum %.15g", what, kept, best)
		}
	}
	return got
}

// TestAllotRandom checks the allocation against brute force on random
// scores: continuous ones spread over orders of magnitude, and small
// integers full of ties, for 1 to 8 heads, every floor and every T.
func TestAllotRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 300 {
		heads, d := 1+rng.IntN(4), []int{2, 4, 8, 8, 16}[rng.IntN(5)]
		if trial%10 == 0 {
			heads = 8
		}
		scores := make([][]float64, heads)
		for h := range scores {
			scores[h] = make([]float64, d)
			scale := math.Exp(rng.NormFloat64() * 5) // raw scales differ by orders of magnitude
			for j := range scores[h] {
				if trial%3 == 0 {
					scores[h][j] = float64(rng.IntN(4)) // ties within and between heads
				} else {
					scores[h][j] = scale * math.Exp(rng.NormFloat64()*2)
				}
			}
		}
		for tc := 1; tc <= d; tc++ {
			for floor := 1; floor <= tc; floor++ {
				checkAllot(t, fmt.Sprintf("trial %d (%d heads, D %d, T %d, floor %d)", trial, heads, d, tc, floor), scores, heads*tc, floor)
			}
		}
	}
}

// TestAllotEdges: a floor equal to T, or identical heads, is uniform ThinK;
// a head with no score keeps its floor; a head with all the share takes as
// much as it can.
func TestAllotEdges(t *testing.T) {
	s := []float64{5, 1, 3, 3, 7, 3, 2, 9}
	skewed := []float64{100, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3}
	for _, tc := range []struct {
		name          string
		scores        [][]float64
		total, floor  int
		want          []int
		wantKeptFirst []int // the first head's channels (nil: not checked)
	}{
		{"floor = T", [][]float64{s, skewed, {1, 1, 1, 1, 1, 1, 1, 1}}, 12, 4, []int{4, 4, 4}, []int{0, 2, 4, 7}},
		{"identical heads with ties", [][]float64{s, s, s}, 15, 1, []int{5, 5, 5}, []int{0, 2, 3, 4, 7}},
		{"identical flat heads", [][]float64{{1, 1, 1, 1}, {1, 1, 1, 1}}, 4, 1, []int{2, 2}, []int{0, 1}},
		{"scaled copies", [][]float64{s, {10, 2, 6, 6, 14, 6, 4, 18}}, 8, 1, []int{4, 4}, []int{0, 2, 4, 7}},
		{"a head without score", [][]float64{{0, 0, 0, 0}, {1, 2, 3, 4}}, 4, 1, []int{1, 3}, []int{0}},
		{"one channel holds a head", [][]float64{skewed, {1, 1, 1, 1, 1, 1, 1, 1}}, 8, 1, []int{1, 7}, []int{0}},
		{"capped at D", [][]float64{skewed, {1, 1, 1, 1, 1, 1, 1, 1}}, 12, 1, []int{4, 8}, []int{0, 1, 2, 3}},
	} {
		got := checkAllot(t, tc.name, tc.scores, tc.total, tc.floor)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: counts %v, want %v", tc.name, got, tc.want)
		}
		if k := KeptChannels(tc.scores[0], len(tc.scores[0])-got[0]); !slices.Equal(k, tc.wantKeptFirst) {
			t.Errorf("%s: first head keeps %v, want %v", tc.name, k, tc.wantKeptFirst)
		}
	}
	for _, tc := range []struct {
		floor float64
		t     int
		want  int
	}{{0, 32, 1}, {0.2, 32, 7}, {0.2, 4, 1}, {0.25, 4, 1}, {0.5, 16, 8}, {1, 16, 16}, {0.3, 10, 3}, {0.9999, 7, 7}} {
		if got := floorOf(tc.floor, tc.t); got != tc.want {
			t.Errorf("floorOf(%g, %d) = %d, want %d", tc.floor, tc.t, got, tc.want)
		}
	}
}

// compressLayers compresses c with spec and checks every layer's allocation
// against allotRef on the brute-force scores of f (the uncompressed copy):
// floor, total, kept sets. It returns each layer's kept counts.
func compressLayers(t *testing.T, f *fixture, c *kvcache.Cache, spec string, window int, values bool) [][]int {
	t.Helper()
	p := mustParse(t, spec)
	tk := p.(*thinK)
	if err := p.Compress(c, f.obs, f.heads); err != nil {
		t.Fatal(err)
	}
	tc := f.d - Pruned(tk.ratio, f.d)
	floor := floorOf(tk.floor, tc)
	var counts [][]int
	for l := range f.layers {
		scores := make([][]float64, f.kvh)
		for g := range f.kvh {
			if values {
				scores[g] = f.valueScores(l, g, f.k[l*f.kvh+g], f.v[l*f.kvh+g], iota(0, f.n), window)
			} else {
				scores[g] = f.keyScores(l, g, f.k[l*f.kvh+g], window)
			}
		}
		want := allotRef(scores, f.kvh*tc, floor)
		var layer []int
		for g := range f.kvh {
			kept := c.Head(l, g).KeyKept
			if values {
				kept = c.Head(l, g).ValKept
			}
			in := make([]bool, f.d)
			for _, j := range kept {
				in[j] = true
			}
			if !slices.Equal(in, want[g]) {
				t.Fatalf("%s layer %d head %d: keeps %v, brute force %v", spec, l, g, kept, want[g])
			}
			layer = append(layer, len(kept))
		}
		counts = append(counts, layer)
	}
	return counts
}

// TestAdaptiveGolden runs adaptive ThinK (keys and values) on the
// stories260K golden cache: each layer's kept channels are brute force's,
// and the bytes, after Compress and after decoding, are uniform ThinK's.
func TestAdaptiveGolden(t *testing.T) {
	const gen = 3
	for _, kind := range []string{"think", "think-v"} {
		for _, ratio := range []float64{0.25, 0.5, 0.75} {
			for _, floor := range []float64{0, 0.2, 0.5, 1} {
				c, obs := goldenCache(t, gen)
				f := snapshot(c, 8, obs)
				uniform := c.Clone()
				spec := fmt.Sprintf("%s:ratio=%g,adaptive=1,floor=%g", kind, ratio, floor)
				counts := compressLayers(t, f, c, spec, 32, kind == "think-v")
				if err := mustParse(t, fmt.Sprintf("%s:ratio=%g", kind, ratio)).Compress(uniform, obs, 8); err != nil {
					t.Fatal(err)
				}
				equalBytes(t, spec, c, uniform, gen)
				if floor == 1 {
					for l := range 5 {
						for g := range 4 {
							a, u := c.Head(l, g), uniform.Head(l, g)
							if !slices.Equal(a.KeyKept, u.KeyKept) || !slices.Equal(a.ValKept, u.ValKept) {
								t.Fatalf("%s layer %d head %d: keeps %v/%v, uniform ThinK %v/%v", spec, l, g, a.KeyKept, a.ValKept, u.KeyKept, u.ValKept)
							}
						}
					}
				}
				if ratio == 0.5 && floor == 0.2 {
					t.Logf("%s: channels kept per layer and KV head %v", spec, counts)
				}
			}
		}
	}
}

// equalBytes checks that two caches compressed from the same prefill hold
// the same bytes, and still do after gen decoded tokens.
func equalBytes(t *testing.T, what string, a, b *kvcache.Cache, gen int) {
	t.Helper()
	if a.Bytes() != b.Bytes() {
		t.Fatalf("%s: Bytes %d after Compress, uniform ThinK %d", what, a.Bytes(), b.Bytes())
	}
	cfg := a.Config()
	row := make([]float32, cfg.HeadDim)
	for i := range gen {
		for _, c := range []*kvcache.Cache{a, b} {
			if err := c.Grow(1); err != nil {
				t.Fatal(err)
			}
			for l := range cfg.Layers {
				for g := range cfg.KVHeads {
					row[0] = float32(i)
					c.Head(l, g).Append(c.Next(), row, row)
				}
			}
			c.Advance(1)
		}
		if a.Bytes() != b.Bytes() {
			t.Fatalf("%s: Bytes %d after %d decoded tokens, uniform ThinK %d", what, a.Bytes(), i+1, b.Bytes())
		}
	}
}

// TestAdaptiveUniformHeads: when every KV head holds the same keys and its
// query heads the same queries, adaptive ThinK keeps T channels per head,
// the very channels uniform ThinK keeps.
func TestAdaptiveUniformHeads(t *testing.T) {
	const layers, heads, kvh, d, n = 2, 8, 4, 16, 40
	rng := rand.New(rand.NewPCG(11, 12))
	c, _ := kvcache.New(kvcache.Config{Layers: layers, KVHeads: kvh, HeadDim: d, Type: kvcache.F32, Capacity: n})
	obs := &kvcache.Observation{Window: 8, Queries: make([][]float32, layers)}
	for l := range layers {
		for p := range n {
			k, v := make([]float32, d), make([]float32, d)
			for j := range k {
				k[j], v[j] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			for g := range kvh {
				c.Head(l, g).Append(p, k, v)
			}
		}
		q := make([]float32, d)
		for range 8 {
			for j := range q {
				q[j] = float32(rng.NormFloat64())
			}
			for range heads {
				obs.Queries[l] = append(obs.Queries[l], q...)
			}
		}
	}
	c.Advance(n)
	for _, spec := range []string{"think:ratio=0.5", "think:ratio=0.75", "think-v:ratio=0.5"} {
		a, u := c.Clone(), c.Clone()
		if err := mustParse(t, spec+",adaptive=1,floor=0").Compress(a, obs, heads); err != nil {
			t.Fatal(err)
		}
		if err := mustParse(t, spec).Compress(u, obs, heads); err != nil {
			t.Fatal(err)
		}
		for l := range layers {
			for g := range kvh {
				ha, hu := a.Head(l, g), u.Head(l, g)
				if !slices.Equal(ha.KeyKept, hu.KeyKept) || !slices.Equal(ha.ValKept, hu.ValKept) {
					t.Fatalf("%s layer %d head %d: adaptive keeps %v/%v, uniform %v/%v", spec, l, g, ha.KeyKept, ha.ValKept, hu.KeyKept, hu.ValKept)
				}
			}
		}
		if a.Bytes() != u.Bytes() {
			t.Fatalf("%s: Bytes %d, uniform %d", spec, a.Bytes(), u.Bytes())
		}
	}
}

// needleModel is the needle model (4 layers, 4 query heads, 2 KV heads of
// 64 channels) with the tokens of a Paul Graham essay from the NIAH
// haystack (apple.txt, about the App Store).
var needleModel struct {
	sync.Once
	m      *model.Model
	prompt []int
	err    error
}

func loadNeedle(t *testing.T, n int) (*model.Model, []int) {
	t.Helper()
	dir := sharedtest.Path(t, "models", "needle")
	text := sharedtest.Path(t, "data", "niah_paulgraham", "PaulGrahamEssays", "apple.txt")
	needleModel.Do(func() {
		nm := &needleModel
		if nm.m, _, nm.err = model.Load(filepath.Join(dir, "needle.bin"), 2048); nm.err != nil {
			return
		}
		tok, err := tokenizer.LoadLlama2C(filepath.Join(dir, "tok512.bin"), nm.m.Vocab)
		if err != nil {
			nm.err = err
			return
		}
		raw, err := os.ReadFile(text)
		if err != nil {
			nm.err = err
			return
		}
		nm.prompt = tok.Encode(string(raw), true)
	})
	if needleModel.err != nil {
		t.Fatal(needleModel.err)
	}
	if len(needleModel.prompt) < n {
		t.Fatalf("essay of %d tokens, want %d", len(needleModel.prompt), n)
	}
	return needleModel.m, needleModel.prompt[:n]
}

// TestAdaptiveModels prefills stories260K (450 tokens) and needle (1024
// tokens of an essay) and compresses the same cache under uniform and
// adaptive ThinK: each layer keeps brute force's channels (scores from the
// model's own keys and window queries), and the bytes equal uniform ThinK's
// after Compress and through 8 decoded tokens, within MaxBytes.
func TestAdaptiveModels(t *testing.T) {
	specs := [][2]string{
		{"think:ratio=0.5", "think:ratio=0.5,adaptive=1"},
		{"think:ratio=0.75", "think:ratio=0.75,adaptive=1,floor=0"},
		{"think-v:ratio=0.5", "think-v:ratio=0.5,adaptive=1"},
		{"snapkv:budget=128+think:ratio=0.5", "snapkv:budget=128+think:ratio=0.5,adaptive=1"},
		{"snapkv:budget=128+think:ratio=0.5+think-v:ratio=0.5", "snapkv:budget=128+think:ratio=0.5,adaptive=1+think-v:ratio=0.5,adaptive=1"},
	}
	const gen = 8
	for _, name := range []string{"stories260K", "needle"} {
		t.Run(name, func(t *testing.T) {
			var m *model.Model
			var prompt []int
			if name == "needle" {
				m, prompt = loadNeedle(t, 1024)
			} else {
				st := loadStories(t)
				m, prompt = st.m, st.prompt
			}
			pool := kernels.NewPool(0)
			c, err := kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: kvcache.F16, Capacity: len(prompt) + gen})
			if err != nil {
				t.Fatal(err)
			}
			s := m.NewState(pool, 64)
			obs := &kvcache.Observation{Window: 32}
			if _, err := m.Forward(s, c, prompt, false, obs); err != nil {
				t.Fatal(err)
			}
			f := snapshot(c, m.Heads, obs)
			for _, kind := range []string{"think", "think-v"} {
				spec := kind + ":ratio=0.5,adaptive=1"
				counts := compressLayers(t, f, c.Clone(), spec, 32, kind == "think-v")
				t.Logf("%s: channels kept per layer and KV head %v", spec, counts)
			}
			for _, sp := range specs {
				var bytes [2]int64
				for i, spec := range sp {
					p, cc := mustParse(t, spec), c.Clone()
					if err := p.Compress(cc, obs, m.Heads); err != nil {
						t.Fatal(err)
					}
					bound := MaxBytes(p, cc.Config(), len(prompt), gen)
					for step := range gen {
						if cc.Bytes() > bound {
							t.Fatalf("%s: Bytes %d > MaxBytes %d", spec, cc.Bytes(), bound)
						}
						if _, err := m.Forward(s, cc, []int{prompt[step+1]}, false, nil); err != nil {
							t.Fatal(err)
						}
						p.Step(cc)
					}
					bytes[i] = cc.Bytes()
					if i == 1 && bytes[1] != bytes[0] {
						t.Errorf("%s: Bytes %d after %d decoded tokens, uniform ThinK %d", spec, bytes[1], gen, bytes[0])
					}
				}
			}
		})
	}
}
