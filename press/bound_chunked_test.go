package press

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// chunkedSequence runs one sequence with chunked compression as the
// engine's chunker drives it: the first chunk allocated at once, each chunk
// appended in steps of at most 48 tokens (Grow, append, Advance), then,
// before the last chunk, LimitReserve(next chunk), Compress and
// ReserveFull(next chunk) on every head, after the last Compress with the
// reserve uncapped, then newTokens decode steps as sequence runs them.
// Keys, values, window queries and column sums are random; with
// adversarial set H2O's scores make it evict pruned tokens first while
// decoding. It checks Cache.Bytes() against bound after every step,
// between the parts of a composition and after every Compress, and against
// after from the end of the last Compress on, and returns the most it saw.
func chunkedSequence(t *testing.T, spec string, cfg kvcache.Config, heads, prompt, newTokens, chunk int, adversarial bool, bound, after int64) int64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(chunk), uint64(prompt*1000+newTokens)))
	p := mustParse(t, spec)
	cfg.Capacity = prompt + newTokens
	c, err := kvcache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.HeadDim
	vec := func(scale float64) []float32 {
		x := make([]float32, d)
		for j := range x {
			x[j] = float32(rng.NormFloat64() * scale)
		}
		return x
	}
	peak, compressed := int64(0), false
	check := func(when string) {
		t.Helper()
		b := c.Bytes()
		if b > bound || compressed && b > after {
			t.Fatalf("%s P=%d N=%d in chunks of %d, %s: Bytes %d, MaxBytesChunked %d, after Compress %d", spec, prompt, newTokens, chunk, when, b, bound, after)
		}
		peak = max(peak, b)
	}
	appendAll := func(m int) {
		if err := c.Grow(m); err != nil {
			t.Fatal(err)
		}
		for i := range m {
			for l := range cfg.Layers {
				for g := range cfg.KVHeads {
					h := c.Head(l, g)
					h.Append(c.Next()+i, vec(2), vec(1))
					for j := range h.Score { // attention accumulated as tokens arrive
						h.Score[j] += float32(rng.Float64())
					}
				}
			}
		}
		c.Advance(m)
	}
	need := p.Needs()
	if need == nil {
		need = &kvcache.Observation{}
	}
	if err := c.Grow(min(chunk, prompt)); err != nil {
		t.Fatal(err)
	}
	check("the first chunk allocated")
	for end := 0; ; {
		next := min(prompt, end+chunk)
		for c.Next() < next {
			appendAll(min(48, next-c.Next()))
			check(fmt.Sprintf("prefilled to %d", c.Next()))
		}
		end = next
		w := min(need.Window, end)
		obs := &kvcache.Observation{Window: need.Window, WantColSums: need.WantColSums,
			Queries: make([][]float32, cfg.Layers), ColSums: make([][]float32, cfg.Layers)}
		for l := range cfg.Layers {
			obs.Queries[l] = make([]float32, w*heads*d)
			for i := range obs.Queries[l] {
				obs.Queries[l][i] = float32(rng.NormFloat64())
			}
			obs.ColSums[l] = make([]float32, heads*end)
			for i := range obs.ColSums[l] {
				obs.ColSums[l][i] = float32(rng.ExpFloat64())
			}
		}
		room := min(chunk, prompt-end)
		c.LimitReserve(room)
		if end == prompt {
			c.LimitReserve(-1)
		}
		parts, ok := p.(composed)
		if !ok {
			parts = composed{p.(policy)}
		}
		if err := parts.compress(c, obs, heads, func() { check(fmt.Sprintf("between parts at %d", end)) }); err != nil {
			t.Fatal(err)
		}
		if end == prompt {
			compressed = true
			check("after the last Compress")
			break
		}
		for l := range cfg.Layers {
			for g := range cfg.KVHeads {
				c.Head(l, g).ReserveFull(room)
			}
		}
		check(fmt.Sprintf("compressed at %d", end))
	}
	for step := range newTokens {
		appendAll(1)
		for l := range cfg.Layers {
			for g := range cfg.KVHeads {
				if h := c.Head(l, g); adversarial && h.Score != nil {
					nk, nv := h.Split()
					for i := range min(max(nk, nv), len(h.Score)) {
						h.Score[i] = -1
					}
				}
			}
		}
		p.Step(c)
		check(fmt.Sprintf("after decode step %d", step+1))
	}
	return peak
}

// TestMaxBytesChunkedBoundsSequences runs every press and composition of
// the bound grid with chunked compression, on prompts of 200 to 700
// tokens in chunks of 16 to 300 and 0 to 300 new tokens, for f16 with a
// head dimension of 8 and q4_0 with 40: Cache.Bytes() never exceeds
// MaxBytesChunked (nor MaxBytesChunkedAfterCompress once the prompt is
// compressed), and the most held is at least 70% of it (the ratios are
// logged; eviction after pruning and PyramidKV's layers are the loosest).
func TestMaxBytesChunkedBoundsSequences(t *testing.T) {
	const layers, heads, kvh = 3, 4, 2
	for _, tc := range []struct {
		typ     kvcache.DType
		d       int
		prompts []int
	}{
		{kvcache.F16, 8, []int{200, 700}},
		{kvcache.Q4_0, 40, []int{300}},
	} {
		cfg := kvcache.Config{Layers: layers, KVHeads: kvh, HeadDim: tc.d, Type: tc.typ}
		var report []string
		for _, spec := range boundSpecs {
			p := mustParse(t, spec)
			lo, sum, count := 2.0, 0.0, 0
			for _, prompt := range tc.prompts {
				for _, chunk := range []int{16, 47, 100, 300} {
					for _, n := range []int{0, 63, 300} {
						bound := MaxBytesChunked(p, cfg, prompt, n, chunk)
						after := MaxBytesChunkedAfterCompress(p, cfg, prompt, n, chunk)
						if after > bound {
							t.Fatalf("%s P=%d N=%d chunks of %d: after Compress %d > %d", spec, prompt, n, chunk, after, bound)
						}
						peak := int64(0)
						for _, adv := range []bool{false, true} {
							peak = max(peak, chunkedSequence(t, spec, cfg, heads, prompt, n, chunk, adv, bound, after))
						}
						r := float64(peak) / float64(bound)
						lo, sum, count = min(lo, r), sum+r, count+1
					}
				}
			}
			report = append(report, fmt.Sprintf("%-80s min %.3f, mean %.3f", spec, lo, sum/float64(count)))
			if lo < 0.7 {
				t.Errorf("%s %s: the most held is only %.3f of MaxBytesChunked", tc.typ, spec, lo)
			}
		}
		t.Logf("%s d=%d: observed peak / MaxBytesChunked:\n%s", tc.typ, tc.d, strings.Join(report, "\n"))
	}
}

// TestMaxBytesChunkedWhole: one chunk holding the prompt, no chunks and no
// press are MaxBytes (and MaxBytesAfterCompress); the bound never falls as
// new tokens are added, so it also bounds a sequence that stops early.
func TestMaxBytesChunkedWhole(t *testing.T) {
	cfg := kvcache.Config{Layers: 3, KVHeads: 2, HeadDim: 8, Type: kvcache.F16}
	for _, spec := range append([]string{"none"}, boundSpecs...) {
		p := mustParse(t, spec)
		for _, prompt := range []int{1, 64, 300} {
			for _, chunk := range []int{0, prompt, prompt + 1} {
				if got, want := MaxBytesChunked(p, cfg, prompt, 40, chunk), MaxBytes(p, cfg, prompt, 40); got != want {
					t.Errorf("%s P=%d in chunks of %d: %d, MaxBytes %d", spec, prompt, chunk, got, want)
				}
				if got, want := MaxBytesChunkedAfterCompress(p, cfg, prompt, 40, chunk), MaxBytesAfterCompress(p, cfg, prompt, 40); got != want {
					t.Errorf("%s P=%d in chunks of %d: after Compress %d, MaxBytesAfterCompress %d", spec, prompt, chunk, got, want)
				}
			}
			if p == nil {
				continue
			}
			prev := int64(0)
			for n := 0; n <= 200; n += 5 {
				b := MaxBytesChunked(p, cfg, prompt+100, n, 64)
				if b < prev {
					t.Fatalf("%s P=%d in chunks of 64: %d at N=%d, less than %d before", spec, prompt+100, b, n, prev)
				}
				prev = b
			}
		}
	}
}
