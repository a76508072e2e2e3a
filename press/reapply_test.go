package press

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// appendRandom appends m random tokens to every head of f's cache, as a
// prompt chunk would, and returns their rows per head [layer*kvh+g].
func appendRandom(f *fixture, rng *rand.Rand, m int) (keys, vals [][][]float64) {
	keys, vals = make([][][]float64, f.layers*f.kvh), make([][][]float64, f.layers*f.kvh)
	for i := range m {
		for l := range f.layers {
			for g := range f.kvh {
				k, v := make([]float32, f.d), make([]float32, f.d)
				for j := range f.d {
					k[j], v[j] = float32(rng.NormFloat64()*2), float32(rng.NormFloat64())
				}
				f.c.Head(l, g).Append(f.c.Next()+i, k, v)
				keys[l*f.kvh+g] = append(keys[l*f.kvh+g], f64(k))
				vals[l*f.kvh+g] = append(vals[l*f.kvh+g], f64(v))
			}
		}
	}
	f.c.Advance(m)
	return keys, vals
}

// TestThinKReapplied: Compress run again after a chunk of tokens keeps
// each head's channels, packs every token but the last recent to them, and
// leaves the head as a first Compress would (pruned rows exactly, full rows
// with room for Cache.Reserve() more), for keys and values; alone and after
// SnapKV, whose budget then holds over every token cached.
func TestThinKReapplied(t *testing.T) {
	const layers, heads, kvh, d, n, chunk = 2, 4, 2, 8, 60, 25
	for _, tc := range []struct {
		spec           string
		budget, recent int // budget 0: no eviction
		values         bool
	}{
		{"think:ratio=0.5,recent=16", 0, 16, false},
		{"think-v:ratio=0.25,recent=4,pack=0", 0, 4, true},
		{"snapkv:budget=40,window=8+think:ratio=0.5,recent=8", 40, 8, false},
		{"think:ratio=0.5,recent=100", 0, 100, false}, // the recent window holds everything: nothing packed
	} {
		f := newFixture(t, 3, layers, heads, kvh, d, n, 32, 2*chunk, kvcache.F32)
		p := mustParse(t, tc.spec)
		if err := p.Compress(f.c, f.obs, heads); err != nil {
			t.Fatal(err)
		}
		kept := map[int][]int{}
		orig := map[int][][]float64{} // original rows of each head's cached tokens, by position
		for i := range layers * kvh {
			h := f.c.Head(i/kvh, i%kvh)
			kept[i] = slices.Clone(h.KeyKept)
			src := f.k
			if tc.values {
				kept[i], src = slices.Clone(h.ValKept), f.v
			}
			orig[i] = src[i]
		}
		rng := rand.New(rand.NewPCG(7, 7))
		for round := range 2 {
			keys, vals := appendRandom(f, rng, chunk)
			for i := range orig {
				if tc.values {
					orig[i] = append(orig[i], vals[i]...)
				} else {
					orig[i] = append(orig[i], keys[i]...)
				}
			}
			if err := p.Compress(f.c, f.obs, heads); err != nil {
				t.Fatalf("%s, compressing again: %v", tc.spec, err)
			}
			what := fmt.Sprintf("%s after chunk %d", tc.spec, round+1)
			reserve := f.c.Reserve()
			var want int64
			row := make([]float32, d)
			for i := range orig {
				h := f.c.Head(i/kvh, i%kvh)
				nk, nv := h.Split()
				got, split, width := h.KeyKept, nk, d/2
				if tc.values {
					got, split, width = h.ValKept, nv, d-d/4
				}
				if !slices.Equal(got, kept[i]) {
					t.Fatalf("%s head %d: kept channels %v, chosen first %v", what, i, got, kept[i])
				}
				if tc.budget > 0 && h.Len() != tc.budget {
					t.Fatalf("%s head %d: %d tokens, want the budget %d", what, i, h.Len(), tc.budget)
				}
				if wantSplit := max(0, h.Len()-tc.recent); split != wantSplit {
					t.Fatalf("%s head %d: %d tokens pruned, want %d", what, i, split, wantSplit)
				}
				for j, pos := range positions(h) {
					w := orig[i][pos]
					if j < split {
						w = zeroOutside(w, kept[i])
					}
					if tc.values {
						h.Value(row, j)
					} else {
						h.Key(row, j)
					}
					if !slices.Equal(row, toF32(w)) {
						t.Fatalf("%s head %d: token %d reads %v, want %v", what, i, j, row, w)
					}
				}
				// The pruned kind: split rows of width, the rest full
				// with the reserve; the other kind: every token, full.
				full := h.Len() - split + reserve
				want += int64(split*width+full*d) + int64(h.Len()+reserve)*int64(d)
			}
			if got := f.c.Bytes(); got != 4*want {
				t.Fatalf("%s: Bytes %d, want %d", what, got, 4*want)
			}
		}
	}
}

// TestH2OReapplied: H2O compressing again keeps the scores accumulated since
// its first Compress (the forward pass adds every query's attention to them)
// and needs no column sums; the older tokens it keeps are the brute-force
// top by those scores.
func TestH2OReapplied(t *testing.T) {
	const layers, heads, kvh, d, n, chunk, budget, recent = 2, 4, 2, 8, 70, 30, 40, 8
	f := newFixture(t, 4, layers, heads, kvh, d, n, 32, chunk, kvcache.F32)
	p := mustParse(t, fmt.Sprintf("h2o:budget=%d,recent=%d", budget, recent))
	if err := p.Compress(f.c, f.obs, heads); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	appendRandom(f, rng, chunk)
	want := map[int][]int{}
	for i := range layers * kvh {
		h := f.c.Head(i/kvh, i%kvh)
		score := make([]float64, h.Len())
		for j := range h.Score {
			h.Score[j] += float32(rng.IntN(5)) / 4 // the chunk's attention, with ties
			score[j] = float64(h.Score[j])
		}
		old := h.Len() - recent
		pos := positions(h)
		var keep []int
		for j, in := range topSet(score[:old], budget-recent) {
			if in {
				keep = append(keep, pos[j])
			}
		}
		want[i] = append(keep, pos[old:]...)
	}
	obs := &kvcache.Observation{Window: f.obs.Window, Queries: f.obs.Queries} // no column sums now
	if err := p.Compress(f.c, obs, heads); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if got := positions(f.c.Head(i/kvh, i%kvh)); !slices.Equal(got, w) {
			t.Fatalf("head %d: kept positions %v, want %v", i, got, w)
		}
	}
	// A first Compress without column sums is an error, not a panic.
	g := newFixture(t, 4, layers, heads, kvh, d, n, 32, chunk, kvcache.F32)
	if err := p.Compress(g.c, obs, heads); err == nil {
		t.Fatal("h2o compressed a cache without column sums")
	}
}
