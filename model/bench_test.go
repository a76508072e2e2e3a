package model_test

import (
	"fmt"
	"testing"

	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
)

func benchModel(b testing.TB, path ...string) *model.Model {
	m, _, err := model.Load(sharedPath(b, path...), 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

func tokens(n, vocab int) []int {
	t := make([]int, n)
	for i := range t {
		t[i] = (i*7919 + 1) % vocab
	}
	return t
}

// benchPrefill measures prompt throughput: n tokens in batches of 256.
func benchPrefill(b *testing.B, m *model.Model, n int, typ kvcache.DType) {
	pool := kernels.NewPool(0)
	s := m.NewState(pool, 256)
	toks := tokens(n, m.Vocab)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, _ := kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: typ, Capacity: n})
		if _, err := m.Forward(s, c, toks, false, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// benchDecode measures one-token steps after a prompt of ctx tokens.
func benchDecode(b *testing.B, m *model.Model, ctx int, typ kvcache.DType) {
	pool := kernels.NewPool(0)
	c, _ := kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: typ, Capacity: ctx + 1})
	if _, err := m.Forward(m.NewState(pool, 256), c, tokens(ctx, m.Vocab), false, nil); err != nil {
		b.Fatal(err)
	}
	s := m.NewState(pool, 1)
	tok := []int{5}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Decode the same position again: drop the token the last step appended.
		if _, err := m.Forward(s, c, tok, false, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		for l := 0; l < m.Config.Layers; l++ {
			for g := 0; g < m.KVHeads; g++ {
				h := c.Head(l, g)
				h.Evict(h.Len() - 1)
			}
		}
		c.Advance(-1)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkPrefillStories260K(b *testing.B) {
	benchPrefill(b, benchModel(b, "models", "stories260K", "stories260K.bin"), 256, kvcache.F16)
}

func BenchmarkDecodeStories260K(b *testing.B) {
	benchDecode(b, benchModel(b, "models", "stories260K", "stories260K.bin"), 128, kvcache.F16)
}

func BenchmarkPrefillNeedle(b *testing.B) {
	benchPrefill(b, benchModel(b, "models", "needle", "needle.bin"), 1024, kvcache.F16)
}

func BenchmarkDecodeNeedle(b *testing.B) {
	benchDecode(b, benchModel(b, "models", "needle", "needle.bin"), 1024, kvcache.F16)
}

// fillCache appends n tokens of arbitrary keys and values to every head of
// c: context for decode benchmarks without the cost of a prefill.
func fillCache(b *testing.B, c *kvcache.Cache, n, seed int) {
	cfg := c.Config()
	if err := c.Grow(n + 1); err != nil {
		b.Fatal(err)
	}
	k, v := make([]float32, cfg.HeadDim), make([]float32, cfg.HeadDim)
	for l := range cfg.Layers {
		for g := range cfg.KVHeads {
			for i := range n {
				for j := range k {
					k[j] = float32((i*31+j*17+l*7+g+seed)%23-11) / 8
					v[j] = float32((i*13+j*29+l*5+g+seed)%19-9) / 8
				}
				c.Head(l, g).Append(i, k, v)
			}
		}
	}
	c.Advance(n)
}

// benchDecodeBatch measures decode steps of B sequences at once, each with
// ctx tokens of context, and reports the tokens decoded per second over all
// of them.
func benchDecodeBatch(b *testing.B, m *model.Model, ctx int) {
	pool := kernels.NewPool(0)
	defer pool.Close()
	for _, batch := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("B=%d", batch), func(b *testing.B) {
			rows := make([]model.Row, batch)
			for i := range rows {
				c, _ := kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: kvcache.F16, Capacity: ctx + 1})
				fillCache(b, c, ctx, i)
				rows[i] = model.Row{Cache: c, Tokens: []int{5 + i}, Logits: true}
			}
			s := m.NewState(pool, batch)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := m.Step(s, rows); err != nil {
					b.Fatal(err)
				}
				// Decode the same positions again: drop the tokens just appended.
				b.StopTimer()
				for _, r := range rows {
					for l := range m.Config.Layers {
						for g := range m.KVHeads {
							h := r.Cache.Head(l, g)
							h.Evict(h.Len() - 1)
						}
					}
					r.Cache.Advance(-1)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkDecodeBatchNeedle decodes 1, 4 and 16 sequences of 512 tokens at
// once on the needle model.
func BenchmarkDecodeBatchNeedle(b *testing.B) {
	benchDecodeBatch(b, benchModel(b, "models", "needle", "needle.gguf"), 512)
}

// llamaBench is a synthetic model in Llama shapes (GQA 4:1, head_dim 128,
// SwiGLU 2.75×) with about 105M parameters: more than a last-level cache
// holds, in Q8_0 (112 MB) as in F32 (420 MB).
var llamaBench = model.Config{Dim: 2048, Hidden: 5632, Layers: 2, Heads: 16, KVHeads: 4, HeadDim: 128, Vocab: 4096, Context: 1024}

// BenchmarkDecodeBatchLlama decodes 1, 4 and 16 sequences of 512 tokens at
// once on llamaBench, with Q8_0, Q4_0 and F32 weights.
func BenchmarkDecodeBatchLlama(b *testing.B) {
	names, shapes, data := syntheticWeights(llamaBench, 5)
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeF32} {
		b.Run(typ.String(), func(b *testing.B) {
			m, _, err := model.Load(writeSynthetic(b, llamaBench, typ, names, shapes, data), 0)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			benchDecodeBatch(b, m, 512)
		})
	}
}

// BenchmarkPrefillLlama prefills 256 tokens (one step) on llamaBench, with
// Q8_0, Q4_0 and F32 weights.
func BenchmarkPrefillLlama(b *testing.B) {
	names, shapes, data := syntheticWeights(llamaBench, 5)
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeF32} {
		b.Run(typ.String(), func(b *testing.B) {
			m, _, err := model.Load(writeSynthetic(b, llamaBench, typ, names, shapes, data), 0)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			benchPrefill(b, m, 256, kvcache.F16)
		})
	}
}
