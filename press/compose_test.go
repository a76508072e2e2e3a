package press

import (
	"fmt"
	"slices"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// TestComposeOrder checks that composition runs left to right: with
// snapkv+think, ThinK scores the keys SnapKV kept; with think+snapkv, ThinK
// scores every prompt key and SnapKV then scores the zero-filled keys. Both
// are compared with brute force, and must differ.
func TestComposeOrder(t *testing.T) {
	const heads, kvh, d, n, budget, window, recent, gen = 8, 2, 8, 120, 40, 16, 16, 4
	snap := fmt.Sprintf("snapkv:budget=%d,window=%d,kernel=5", budget, window)
	think := fmt.Sprintf("think:ratio=0.5,recent=%d,window=32", recent)
	type result struct{ pos, kept [][]int }
	run := func(spec string, thinkFirst bool) result {
		f := newFixture(t, 42, 2, heads, kvh, d, n, 32, gen, kvcache.F32)
		p := mustParse(t, spec)
		if need := p.Needs(); need.Window != 32 {
			t.Fatalf("%s: composed window %d, want the widest, 32", spec, need.Window)
		}
		if err := p.Compress(f.c, f.obs, heads); err != nil {
			t.Fatal(err)
		}
		var r result
		for l := range 2 {
			for g := range kvh {
				h := f.c.Head(l, g)
				what := fmt.Sprintf("%s layer %d head %d", spec, l, g)
				all := iota(0, n)
				if thinkFirst {
					checkTop(t, what, f.keyScores(l, g, f.k[l*kvh+g], 32), h.KeyKept, d/2, 1e-6)
					checkSnap(t, f, l, g, all, h.KeyKept, n-recent, budget, window, 5, false)
				} else {
					checkSnap(t, f, l, g, all, nil, 0, budget, window, 5, false)
					survivors := rowsAt(f.k[l*kvh+g], positions(h), nil, 0)
					checkTop(t, what, f.keyScores(l, g, survivors, 32), h.KeyKept, d/2, 1e-6)
				}
				if nk, nv := h.Split(); nk != budget-recent || nv != 0 {
					t.Fatalf("%s: Split (%d,%d), want (%d,0)", what, nk, nv, budget-recent)
				}
				r.pos, r.kept = append(r.pos, positions(h)), append(r.kept, h.KeyKept)
			}
		}
		perHead := (budget-recent)*(d/2) + (recent+gen)*d + (budget+gen)*d
		if want := int64(2*kvh*perHead) * 4; f.c.Bytes() != want {
			t.Fatalf("%s: Bytes %d, want closed form %d", spec, f.c.Bytes(), want)
		}
		return r
	}
	a, b := run(snap+"+"+think, false), run(think+"+"+snap, true)
	if slices.EqualFunc(a.kept, b.kept, slices.Equal) && slices.EqualFunc(a.pos, b.pos, slices.Equal) {
		t.Fatal("snapkv+think and think+snapkv gave the same cache")
	}
}

// TestBytesEveryPress checks Bytes against the closed form, per head per layer,
// size·[keys (S−R)·T + (R+gen)·D + values (S−R)·Tv + (R+gen)·D] (unpruned:
// (S+gen)·D), for every press and some compositions, after compression and
// while decoding gen tokens; gen is the rows reserved for decoding:
// Capacity − prompt, or 1 for h2o and streaming alone, which evict as they decode.
func TestBytesEveryPress(t *testing.T) {
	const layers, heads, kvh, d, n, extra = 2, 4, 2, 8, 100, 10
	cases := []struct {
		spec      string
		s, gen    []int // per layer
		r, tk, tv int   // tk, tv = d: not pruned
		decode    bool  // whether decoding gen tokens keeps the allocation
	}{
		{"snapkv:budget=40,window=8", []int{40, 40}, []int{extra, extra}, 0, d, d, true},
		{"pyramidkv:budget=40,window=8", []int{70, 10}, []int{extra, extra}, 0, d, d, true},
		{"h2o:budget=40,recent=8", []int{40, 40}, []int{1, 1}, 0, d, d, true},
		{"streaming:sink=4,recent=20", []int{24, 24}, []int{1, 1}, 0, d, d, true},
		{"think:ratio=0.5,recent=16", []int{n, n}, []int{extra, extra}, 16, 4, d, true},
		{"think-v:ratio=0.25,recent=16", []int{n, n}, []int{extra, extra}, 16, d, 6, true},
		{"think:ratio=0.5,recent=200", []int{n, n}, []int{extra, extra}, n, 4, d, true},
		{"snapkv:budget=40,window=8+think:ratio=0.5,recent=8", []int{40, 40}, []int{extra, extra}, 8, 4, d, true},
		{"think:ratio=0.5,recent=8+snapkv:budget=40,window=8", []int{40, 40}, []int{extra, extra}, 8, 4, d, true},
		{"snapkv:budget=40,window=8+think:ratio=0.5,recent=8+think-v:ratio=0.5,recent=8", []int{40, 40}, []int{extra, extra}, 8, 4, 4, true},
		{"pyramidkv:budget=40,window=8+think:ratio=0.75,recent=8", []int{70, 10}, []int{extra, extra}, 8, 2, d, true},
		// Evicting while decoding on top of ThinK may remove pruned-segment
		// rows, which frees no full-width room: the full segments reserve
		// every token still to come.
		{"h2o:budget=40,recent=8+think:ratio=0.75,recent=8", []int{40, 40}, []int{extra, extra}, 8, 2, d, true},
		{"streaming:sink=4,recent=20+think:ratio=0.5,recent=8", []int{24, 24}, []int{extra, extra}, 8, 4, d, true},
	}
	for _, tc := range cases {
		for _, typ := range []kvcache.DType{kvcache.F16, kvcache.F32} {
			f := newFixture(t, 9, layers, heads, kvh, d, n, 32, extra, typ)
			p := mustParse(t, tc.spec)
			if err := p.Compress(f.c, f.obs, heads); err != nil {
				t.Fatal(err)
			}
			var want int64
			for l := range layers {
				s, gen, r := tc.s[l], tc.gen[l], min(tc.r, tc.s[l])
				keys := (s-r)*tc.tk + (r+gen)*d
				values := (s-r)*tc.tv + (r+gen)*d
				want += int64(kvh*(keys+values)) * typ.Size()
			}
			steps := 0
			if tc.decode {
				steps = extra
			}
			for step := 0; ; step++ {
				if got := f.c.Bytes(); got != want {
					t.Fatalf("%s %v after %d decoded tokens: Bytes %d, want closed form %d", tc.spec, typ, step, got, want)
				}
				if step == steps {
					break
				}
				for l := range layers {
					for g := range kvh {
						f.c.Head(l, g).Append(n+step, make([]float32, d), make([]float32, d))
					}
				}
				f.c.Advance(1)
				p.Step(f.c)
			}
		}
	}
}

// TestComposeHugeLimit checks that evicting while decoding on top of ThinK
// reserves the cache's headroom (the tokens so far), not every token the
// sequence's limit still allows: a limit is not an allocation.
func TestComposeHugeLimit(t *testing.T) {
	const layers, heads, kvh, d, n, extra = 2, 4, 2, 8, 100, 1 << 20
	f := newFixture(t, 9, layers, heads, kvh, d, n, 32, extra, kvcache.F32)
	if err := mustParse(t, "h2o:budget=40,recent=8+think:ratio=0.75,recent=8").Compress(f.c, f.obs, heads); err != nil {
		t.Fatal(err)
	}
	// Per head: pruned keys (s−r)·tk, full keys (r+gen)·d, values
	// (s−r)·d + (r+gen)·d, with gen = n rows of headroom.
	s, r, tk, gen := 40, 8, 2, n
	want := int64(layers*kvh*((s-r)*tk+(r+gen)*d+(s-r)*d+(r+gen)*d)) * 4
	if got := f.c.Bytes(); got != want {
		t.Errorf("Bytes %d, want %d (headroom of %d tokens, not the limit's %d)", got, want, gen, extra)
	}
}
