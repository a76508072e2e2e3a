package model_test

import (
	"testing"

	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
)

func benchModel(b *testing.B, path ...string) *model.Model {
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
