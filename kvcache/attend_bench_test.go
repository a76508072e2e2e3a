package kvcache_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/thinkv/thinkv/kvcache"
)

// benchGroup is the query heads per KV head in the benchmarks (Llama 3,
// Mistral).
const benchGroup = 4

// benchHead returns one KV head of n random tokens of head dimension d,
// with half the key channels (keys) and of the value channels (values)
// pruned by ThinK, keeping the 32 most recent tokens full, and a group of
// decode queries attending over all of it.
func benchHead(typ kvcache.DType, d, n int, keys, values bool) (h *kvcache.Head, q []float32, lim []int) {
	c, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: d, Type: typ, Capacity: n + 1})
	h = c.Head(0, 0)
	rng := rand.New(rand.NewPCG(1, 1))
	k, v := make([]float32, d), make([]float32, d)
	for i := 0; i < n; i++ {
		for j := range k {
			k[j], v[j] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		h.Append(i, k, v)
	}
	kept := make([]int, 0, d/2)
	for j := 0; j < d; j += 2 {
		kept = append(kept, j)
	}
	if keys {
		h.PruneKeys(kept, 32, 1)
	}
	if values {
		h.PruneValues(kept, 32, 1)
	}
	q = make([]float32, benchGroup*d)
	for j := range q {
		q[j] = float32(rng.NormFloat64())
	}
	lim = make([]int, benchGroup)
	for j := range lim {
		lim[j] = n
	}
	return h, q, lim
}

// BenchmarkAttendDecode times one decode step of one KV head (4 query heads
// per KV head) over n cached tokens of head dimension d, with the full cache
// and with half the key (and value) channels pruned by ThinK, keeping 32
// recent tokens full: the attention part of decode that ThinK thins, for
// every storage type. It reports ns per key–query pair.
func BenchmarkAttendDecode(b *testing.B) {
	type shape struct {
		typ  kvcache.DType
		d, n int
	}
	var shapes []shape
	for _, n := range []int{2048, 4096, 8192} {
		for _, d := range []int{64, 128} {
			for _, typ := range []kvcache.DType{kvcache.F16, kvcache.Q8_0, kvcache.Q4_0} {
				shapes = append(shapes, shape{typ, d, n})
			}
		}
	}
	shapes = append(shapes, shape{kvcache.F32, 64, 2048}, shape{kvcache.F32, 128, 2048})
	for _, sh := range shapes {
		for _, tc := range []struct {
			name         string
			keys, values bool
		}{{"full", false, false}, {"think-keys-0.5", true, false}, {"think-keys+values-0.5", true, true}} {
			b.Run(fmt.Sprintf("%v/d%d/n%d/%s", sh.typ, sh.d, sh.n, tc.name), func(b *testing.B) {
				h, q, lim := benchHead(sh.typ, sh.d, sh.n, tc.keys, tc.values)
				out := make([]float32, len(q))
				s := kvcache.NewScratch(benchGroup, sh.d)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					h.AttendBlock(out, q, lim, 0.088, nil, s)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(sh.n*benchGroup), "ns/pair")
				b.ReportMetric(float64(h.Bytes())/1e6, "MB")
			})
		}
	}
}

// BenchmarkAttendThinKRatio times decode steps over the full head and over
// the same tokens with half the key channels pruned (ThinK, 32 recent tokens
// full), alternating one step of each so that both see the same machine. It
// reports each one's fastest step (the least disturbed by other work on a
// shared machine) in ns per key–query pair and their ratio, think/full: the
// pruned keys are half the multiply-adds of the dots and, with the values,
// 0.75 of the bytes (bytes-ratio).
func BenchmarkAttendThinKRatio(b *testing.B) {
	for _, n := range []int{2048, 4096, 8192} {
		for _, d := range []int{64, 128} {
			b.Run(fmt.Sprintf("f16/d%d/n%d", d, n), func(b *testing.B) {
				hf, q, lim := benchHead(kvcache.F16, d, n, false, false)
				ht, _, _ := benchHead(kvcache.F16, d, n, true, false)
				out := make([]float32, len(q))
				s := kvcache.NewScratch(benchGroup, d)
				full, think := fastestSteps(b, hf, ht, out, q, lim, s)
				pairs := float64(n * benchGroup)
				b.ReportMetric(float64(full.Nanoseconds())/pairs, "full-ns/pair")
				b.ReportMetric(float64(think.Nanoseconds())/pairs, "think-ns/pair")
				b.ReportMetric(float64(think)/float64(full), "think/full")
				b.ReportMetric(float64(ht.Bytes())/float64(hf.Bytes()), "bytes-ratio")
			})
		}
	}
}

// BenchmarkAttendTypes times decode steps over the same tokens stored as f16
// and as each other type, full and with half the key channels pruned by
// ThinK, alternating one step of each so that both see the same machine,
// and reports each one's fastest step in ns per key–query pair and their
// ratio, type/f16, with the bytes ratio.
func BenchmarkAttendTypes(b *testing.B) {
	for _, d := range []int{64, 128} {
		for _, typ := range []kvcache.DType{kvcache.F32, kvcache.Q8_0, kvcache.Q4_0} {
			for _, keys := range []bool{false, true} {
				const n = 4096
				name := map[bool]string{false: "full", true: "think-keys-0.5"}[keys]
				b.Run(fmt.Sprintf("%v/d%d/n%d/%s", typ, d, n, name), func(b *testing.B) {
					hf, q, lim := benchHead(kvcache.F16, d, n, keys, false)
					ht, _, _ := benchHead(typ, d, n, keys, false)
					out := make([]float32, len(q))
					s := kvcache.NewScratch(benchGroup, d)
					ht.AttendBlock(out, q, lim, 0.088, nil, s) // grow the blocked types' scratch
					f16, other := fastestSteps(b, hf, ht, out, q, lim, s)
					pairs := float64(n * benchGroup)
					b.ReportMetric(float64(f16.Nanoseconds())/pairs, "f16-ns/pair")
					b.ReportMetric(float64(other.Nanoseconds())/pairs, "type-ns/pair")
					b.ReportMetric(float64(other)/float64(f16), "type/f16")
					b.ReportMetric(float64(ht.Bytes())/float64(hf.Bytes()), "bytes-ratio")
				})
			}
		}
	}
}

// fastestSteps runs b.N decode steps on each of two heads, alternating one
// step of each so that both see the same machine, and returns each one's
// fastest step.
func fastestSteps(b *testing.B, h1, h2 *kvcache.Head, out, q []float32, lim []int, s *kvcache.Scratch) (t1, t2 time.Duration) {
	t1, t2 = time.Duration(1<<62), time.Duration(1<<62)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		h1.AttendBlock(out, q, lim, 0.088, nil, s)
		mid := time.Now()
		h2.AttendBlock(out, q, lim, 0.088, nil, s)
		t2 = min(t2, time.Since(mid))
		t1 = min(t1, mid.Sub(start))
	}
	return t1, t2
}

// BenchmarkAttendModelStep times the attention of one decode step over a
// whole model's cache, too large for the CPU's caches: TinyLlama's shape
// (22 layers × 4 KV heads of head dimension 64, 8 query heads per KV head)
// at n cached tokens, on one thread, head after head, as the full cache
// and with half the key channels pruned by ThinK (32 recent tokens full),
// alternating one step of each. It reports each one's mean step in ns per
// key–query pair and their ratio, think/full.
func BenchmarkAttendModelStep(b *testing.B) {
	const heads, d, group = 22 * 4, 64, 8
	for _, n := range []int{4096, 8192} {
		b.Run(fmt.Sprintf("f16/d%d/n%d", d, n), func(b *testing.B) {
			var full, think []*kvcache.Head
			for range heads {
				h, _, _ := benchHead(kvcache.F16, d, n, false, false)
				full = append(full, h)
				h, _, _ = benchHead(kvcache.F16, d, n, true, false)
				think = append(think, h)
			}
			q := make([]float32, group*d)
			for i := range q {
				q[i] = float32(i%7) * 0.1
			}
			lim := make([]int, group)
			for i := range lim {
				lim[i] = n
			}
			out := make([]float32, len(q))
			s := kvcache.NewScratch(group, d)
			step := func(hs []*kvcache.Head) time.Duration {
				start := time.Now()
				for _, h := range hs {
					h.AttendBlock(out, q, lim, 0.125, nil, s)
				}
				return time.Since(start)
			}
			var tf, tt time.Duration
			b.ResetTimer()
			for range b.N {
				tf += step(full)
				tt += step(think)
			}
			pairs := float64(b.N * heads * n * group)
			b.ReportMetric(float64(tf.Nanoseconds())/pairs, "full-ns/pair")
			b.ReportMetric(float64(tt.Nanoseconds())/pairs, "think-ns/pair")
			b.ReportMetric(float64(tt)/float64(tf), "think/full")
		})
	}
}
