package press

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// zeroOutside returns row with the channels outside kept set to zero.
func zeroOutside(row []float64, kept []int) []float64 {
	out := make([]float64, len(row))
	for _, c := range kept {
		out[c] = row[c]
	}
	return out
}

// TestStoriesPackMatchesZeroFilled decodes 48 tokens after the ≈450-token
// prompt under snapkv:budget=128+think:ratio=0.5,pack=8 and checks, at every
// step, that the packed split follows the rule (a head holding recent+pack
// full-width keys packs all but the last recent), that every key reads back
// as the original zero-filled outside the channels chosen at Compress, and
// that the logits equal those of a full-width cache holding exactly those
// zero-filled keys (rebuilt from the originals after every packing).
func TestStoriesPackMatchesZeroFilled(t *testing.T) {
	st := loadStories(t)
	m := st.m
	const steps, recent, pack = 48, 32, 8
	spec := fmt.Sprintf("snapkv:budget=128+think:ratio=0.5,recent=%d,pack=%d", recent, pack)
	p := mustParse(t, spec)
	c, s, obs := st.prefill(t, spec, kvcache.F32, promptLen+steps)
	f := snapshot(c, m.Heads, obs)
	if err := p.Compress(c, obs, m.Heads); err != nil {
		t.Fatal(err)
	}
	cfg := c.Config()
	type mirror struct {
		keys, vals [][]float64 // original rows of the cached tokens
		pos        []int
		packed     int // leading tokens whose keys are packed
	}
	mir := make([]mirror, cfg.Layers*cfg.KVHeads)
	for i := range mir {
		h := c.Head(i/cfg.KVHeads, i%cfg.KVHeads)
		pos := positions(h)
		nk, _ := h.Split()
		mir[i] = mirror{keys: rowsAt(f.k[i], pos, nil, 0), vals: rowsAt(f.v[i], pos, nil, 0), pos: pos, packed: nk}
	}
	dense := func() *kvcache.Cache {
		d, _ := kvcache.New(cfg)
		for i, mr := range mir {
			kept := c.Head(i/cfg.KVHeads, i%cfg.KVHeads).KeyKept
			for j, p := range mr.pos {
				k := mr.keys[j]
				if j < mr.packed {
					k = zeroOutside(k, kept)
				}
				d.Head(i/cfg.KVHeads, i%cfg.KVHeads).Append(p, toF32(k), toF32(mr.vals[j]))
			}
		}
		d.Advance(c.Next())
		return d
	}
	ref, sRef := dense(), m.NewState(st.pool, 1)
	row, packings := make([]float32, cfg.HeadDim), 0
	for step := range steps {
		tok := st.prompt[(step*53)%promptLen]
		got := st.forward(t, s, c, []int{tok}, nil)
		want := st.forward(t, sRef, ref, []int{tok}, nil)
		for j := range got {
			if math.Abs(float64(got[j]-want[j])) > 1e-4 {
				t.Fatalf("step %d: logit %d is %v on the packed cache, %v on the zero-filled one", step, j, got[j], want[j])
			}
		}
		for i := range mir {
			h := c.Head(i/cfg.KVHeads, i%cfg.KVHeads)
			h.Key(row, h.Len()-1)
			mir[i].keys = append(mir[i].keys, f64(row))
			h.Value(row, h.Len()-1)
			mir[i].vals = append(mir[i].vals, f64(row))
			mir[i].pos = append(mir[i].pos, c.Next()-1)
		}
		p.Step(c)
		repacked := false
		for i := range mir {
			mr := &mir[i]
			h := c.Head(i/cfg.KVHeads, i%cfg.KVHeads)
			if len(mr.pos)-mr.packed >= recent+pack {
				mr.packed, repacked = len(mr.pos)-recent, true
			}
			if nk, nv := h.Split(); nk != mr.packed || nv != 0 {
				t.Fatalf("step %d head %d: Split (%d, %d), want (%d, 0)", step, i, nk, nv, mr.packed)
			}
			for j := range mr.pos {
				want := mr.keys[j]
				if j < mr.packed {
					want = zeroOutside(want, h.KeyKept)
				}
				h.Key(row, j)
				if !slices.Equal(toF32(want), row) {
					t.Fatalf("step %d head %d: key %d reads %v, want %v", step, i, j, row, want)
				}
			}
		}
		if repacked {
			packings++
			ref = dense()
		}
	}
	if packings != (steps-pack)/pack+1 {
		t.Fatalf("%d packings in %d steps, want %d", packings, steps, (steps-pack)/pack+1)
	}
}

// TestPackEachKindOwnWindow decodes under a chain whose think and think-v
// have different recent windows and intervals: each kind packs by its own
// rule, never by the other's, and rows read back zero-filled outside the
// kind's kept channels; with pack=0 nothing is packed.
func TestPackEachKindOwnWindow(t *testing.T) {
	const layers, heads, kvh, d, n, steps = 2, 4, 2, 8, 40, 37
	for _, tc := range []struct {
		spec                   string
		rk, pk, rv, pv         int
		keysPruned, valsPruned bool
	}{
		{"think:ratio=0.5,recent=4,pack=8+think-v:ratio=0.25,recent=12,pack=3", 4, 8, 12, 3, true, true},
		{"snapkv:budget=30,window=8+think:ratio=0.5,recent=16,pack=0", 16, 0, 0, 0, true, false},
		{"think-v:ratio=0.5,recent=0,pack=1", 0, 0, 0, 1, false, true},
	} {
		f := newFixture(t, 5, layers, heads, kvh, d, n, 32, steps, kvcache.F32)
		p := mustParse(t, tc.spec)
		if err := p.Compress(f.c, f.obs, heads); err != nil {
			t.Fatal(err)
		}
		type orig struct {
			k, v         [][]float64 // the rows appended
			wantK, wantV int         // the split the rule expects after this step
		}
		rows := map[[2]int]*orig{}
		for l := range layers {
			for g := range kvh {
				h := f.c.Head(l, g)
				pos := positions(h)
				rows[[2]int{l, g}] = &orig{k: rowsAt(f.k[l*kvh+g], pos, nil, 0), v: rowsAt(f.v[l*kvh+g], pos, nil, 0)}
			}
		}
		rng := rand.New(rand.NewPCG(1, 2))
		row := make([]float32, d)
		for step := range steps {
			for l := range layers {
				for g := range kvh {
					k, v := make([]float32, d), make([]float32, d)
					for j := range d {
						k[j], v[j] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
					}
					h := f.c.Head(l, g)
					nk, nv := h.Split()
					h.Append(n+step, k, v)
					o := rows[[2]int{l, g}]
					o.k, o.v = append(o.k, f64(k)), append(o.v, f64(v))
					// The rule, per kind: recent+pack full rows pack all but recent.
					wantK, wantV := nk, nv
					if tc.pk > 0 && h.Len()-nk >= tc.rk+tc.pk {
						wantK = h.Len() - tc.rk
					}
					if tc.pv > 0 && h.Len()-nv >= tc.rv+tc.pv {
						wantV = h.Len() - tc.rv
					}
					o.wantK, o.wantV = wantK, wantV
				}
			}
			f.c.Advance(1)
			p.Step(f.c)
			for l := range layers {
				for g := range kvh {
					h := f.c.Head(l, g)
					o := rows[[2]int{l, g}]
					if nk, nv := h.Split(); nk != o.wantK || nv != o.wantV {
						t.Fatalf("%s step %d layer %d head %d: Split (%d, %d), want (%d, %d)", tc.spec, step, l, g, nk, nv, o.wantK, o.wantV)
					}
					if (h.KeyKept != nil) != tc.keysPruned || (h.ValKept != nil) != tc.valsPruned {
						t.Fatalf("%s: kept channels (keys %v, values %v)", tc.spec, h.KeyKept, h.ValKept)
					}
					for i := range h.Len() {
						wk, wv := o.k[i], o.v[i]
						if i < o.wantK {
							wk = zeroOutside(wk, h.KeyKept)
						}
						if i < o.wantV {
							wv = zeroOutside(wv, h.ValKept)
						}
						h.Key(row, i)
						if !slices.Equal(row, toF32(wk)) {
							t.Fatalf("%s step %d: key %d reads %v, want %v", tc.spec, step, i, row, wk)
						}
						h.Value(row, i)
						if !slices.Equal(row, toF32(wv)) {
							t.Fatalf("%s step %d: value %d reads %v, want %v", tc.spec, step, i, row, wv)
						}
					}
				}
			}
		}
	}
}

// TestKeyPacking: the packing a press describes is its think part's, alone
// or in a chain; think-v, pack=0 and presses without ThinK describe none.
func TestKeyPacking(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Packing
		ok   bool
	}{
		{"think:ratio=0.5", Packing{Recent: 32, Every: 32, Window: 32}, true},
		{"snapkv:budget=64+think:ratio=0.5,recent=8,pack=4,window=16+think-v:ratio=0.5", Packing{Recent: 8, Every: 4, Window: 16}, true},
		{"think:ratio=0.5,pack=0", Packing{}, false},
		{"think-v:ratio=0.5", Packing{}, false},
		{"snapkv:budget=64", Packing{}, false},
	} {
		if got, ok := KeyPacking(mustParse(t, tc.spec)); got != tc.want || ok != tc.ok {
			t.Errorf("%s: KeyPacking %+v, %v; want %+v, %v", tc.spec, got, ok, tc.want, tc.ok)
		}
	}
	if _, ok := KeyPacking(nil); ok {
		t.Error("the full cache packs keys")
	}
}
