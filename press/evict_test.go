package press

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// TestH2O checks prefill selection against brute force (column sums summed over
// the group's query heads, top budget−recent of the older tokens plus the recent
// ones), then decode: after each new token, the older token with the lowest
// accumulated score goes (ties: the later one), with no reallocation.
func TestH2O(t *testing.T) {
	cases := []struct{ heads, kvh, d, n, budget, recent int }{
		{4, 4, 8, 80, 30, 8},
		{4, 2, 8, 80, 30, 0},
		{8, 2, 128, 60, 20, 20}, // budget = recent
		{8, 2, 8, 20, 30, 8},    // prompt under budget: grows to it while decoding
	}
	for ci, tc := range cases {
		spec := fmt.Sprintf("h2o:budget=%d,recent=%d", tc.budget, tc.recent)
		t.Run(fmt.Sprintf("G%d_d%d_%s", tc.heads/tc.kvh, tc.d, spec), func(t *testing.T) {
			const steps = 15
			f := newFixture(t, uint64(ci), 2, tc.heads, tc.kvh, tc.d, tc.n, 1, steps, kvcache.F32)
			p := mustParse(t, spec)
			if need := p.Needs(); need == nil || !need.WantColSums {
				t.Fatalf("Needs() = %+v, want column sums", need)
			}
			if err := p.Compress(f.c, f.obs, tc.heads); err != nil {
				t.Fatal(err)
			}
			group := tc.heads / tc.kvh
			score := map[[2]int][]float64{} // brute-force accumulated score per head, by cache index
			for l := range 2 {
				for g := range tc.kvh {
					all := make([]float64, tc.n)
					for i := range all {
						for qh := g * group; qh < (g+1)*group; qh++ {
							all[i] += float64(f.obs.ColSums[l][qh*tc.n+i])
						}
					}
					h := f.c.Head(l, g)
					got := positions(h)
					if tc.n > tc.budget {
						old := tc.n - tc.recent
						checkTop(t, fmt.Sprintf("layer %d head %d", l, g), all[:old], got[:len(got)-tc.recent], tc.budget-tc.recent, 1e-5)
						if !slices.Equal(got[len(got)-tc.recent:], iota(old, tc.n)) {
							t.Fatalf("recent tokens %v", got[len(got)-tc.recent:])
						}
					} else if !slices.Equal(got, iota(0, tc.n)) {
						t.Fatalf("prompt under budget changed: %v", got)
					}
					var s []float64
					for i, pos := range got {
						s = append(s, all[pos])
						if math.Abs(float64(h.Score[i])-all[pos]) > 1e-5*all[pos] {
							t.Fatalf("Score[%d] = %v, want %v", i, h.Score[i], all[pos])
						}
					}
					score[[2]int{l, g}] = s
				}
			}
			bytes := f.c.Bytes()
			rng := rand.New(rand.NewPCG(uint64(ci), 99))
			for step := range steps {
				for l := range 2 {
					for g := range tc.kvh {
						h := f.c.Head(l, g)
						h.Append(tc.n+step, make([]float32, tc.d), make([]float32, tc.d))
						s := append(score[[2]int{l, g}], 0)
						// Decode attention, in quarters so exact ties happen.
						for i := range h.Score {
							add := float32(rng.IntN(3)) / 4
							h.Score[i] += add
							s[i] += float64(add)
						}
						score[[2]int{l, g}] = s
					}
				}
				f.c.Advance(1)
				want := map[[2]int][]int{}
				for key, s := range score {
					pos := positions(f.c.Head(key[0], key[1]))
					if len(pos) > tc.budget { // brute force: lowest older score goes, the later of equals
						worst := 0
						for i := range len(pos) - tc.recent {
							if s[i] < s[worst] || s[i] == s[worst] {
								worst = i
							}
						}
						pos, s = slices.Delete(pos, worst, worst+1), slices.Delete(s, worst, worst+1)
					}
					want[key], score[key] = pos, s
				}
				p.Step(f.c)
				for key, pos := range want {
					if got := positions(f.c.Head(key[0], key[1])); !slices.Equal(got, pos) {
						t.Fatalf("step %d head %v: positions %v, want %v", step, key, got, pos)
					}
				}
			}
			if f.c.Bytes() != bytes {
				t.Errorf("decode changed Bytes from %d to %d", bytes, f.c.Bytes())
			}
			gen := steps // untouched heads keep their full allocation
			if tc.n > tc.budget {
				gen = 1 // LimitReserve(1): one free row, refilled and evicted each step
			}
			if want := int64(2*2*tc.kvh*(min(tc.n, tc.budget)+gen)*tc.d) * 4; bytes != want {
				t.Errorf("Bytes %d, want closed form %d", bytes, want)
			}
		})
	}
}

// TestStreaming checks StreamingLLM keeps the sink and the recent tokens, at
// prefill and while decoding, in a fixed allocation.
func TestStreaming(t *testing.T) {
	for _, tc := range []struct{ n, sink, recent int }{{50, 4, 10}, {50, 0, 7}, {12, 4, 10}, {14, 4, 10}} {
		f := newFixture(t, 3, 2, 4, 2, 8, tc.n, 1, 6, kvcache.F16)
		p := mustParse(t, fmt.Sprintf("streaming:sink=%d,recent=%d", tc.sink, tc.recent))
		if p.Needs() != nil {
			t.Fatalf("streaming needs %+v", p.Needs())
		}
		if err := p.Compress(f.c, nil, 4); err != nil {
			t.Fatal(err)
		}
		bytes := f.c.Bytes()
		for step := 0; step <= 5; step++ {
			end := tc.n + step
			want := iota(0, end)
			if end > tc.sink+tc.recent {
				want = append(iota(0, tc.sink), iota(end-tc.recent, end)...)
			}
			for l := range 2 {
				for g := range 2 {
					if got := positions(f.c.Head(l, g)); !slices.Equal(got, want) {
						t.Fatalf("%+v step %d: positions %v, want %v", tc, step, got, want)
					}
				}
			}
			for l := range 2 {
				for g := range 2 {
					f.c.Head(l, g).Append(end, make([]float32, 8), make([]float32, 8))
				}
			}
			f.c.Advance(1)
			p.Step(f.c)
		}
		s, gen := tc.sink+tc.recent, 1
		if tc.n <= s {
			s, gen = tc.n, 6
		}
		if want := int64(2*2*2*(s+gen)*8) * 2; bytes != want || f.c.Bytes() != bytes {
			t.Errorf("%+v: Bytes %d then %d, want %d", tc, bytes, f.c.Bytes(), want)
		}
	}
}
