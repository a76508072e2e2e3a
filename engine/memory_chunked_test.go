package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/internal/memlimit"
	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/press"
)

// chunkedBoundPresses are the presses TestMaxBytesChunkedRealModels runs.
var chunkedBoundPresses = []string{
	"snapkv:budget=128,window=16",
	"snapkv:budget=128,window=16+think:ratio=0.5",
	"snapkv:budget=128+think:ratio=0.5,pack=0",
	"h2o:budget=128,recent=16",
	"streaming:sink=4,recent=124",
	"pyramidkv:budget=128",
	"h2o:budget=128,recent=16+think:ratio=0.5",
	"streaming:sink=4,recent=60+think:ratio=0.5,recent=8,pack=8",
	"think:ratio=0.5",
	"think-v:ratio=0.5,pack=8",
	"snapkv:budget=96+think:ratio=0.5,adaptive=1,floor=0+think-v:ratio=0.25",
}

// TestMaxBytesChunkedRealModels prefills real prompts in chunks as the
// engine's chunker does, on stories260K and the needle model (f16 and
// q8_0), each chunk in steps of at most 48 tokens as a scheduler runs it,
// then decodes: Cache.Bytes() never exceeds press.MaxBytesChunked after any
// step, compression or decoded token, nor MaxBytesChunkedAfterCompress
// once the last chunk is compressed; the ratio of the most held to the
// bound is logged.
func TestMaxBytesChunkedRealModels(t *testing.T) {
	for _, tc := range []struct {
		name    string
		e       *Engine
		typ     kvcache.DType
		prompt  int
		newTok  int
		chunks  []int
		presses []string
	}{
		{"stories260K", loadStories(t, 1024), kvcache.F16, 900, 40, []int{16, 64, 100, 256}, chunkedBoundPresses},
		{"stories260K", loadStories(t, 1024), kvcache.Q8_0, 600, 70, []int{50, 256}, chunkedBoundPresses},
		{"needle", loadNeedle(t), kvcache.F16, 700, 40, []int{64, 300}, chunkedBoundPresses[:6]},
		{"needle", loadNeedle(t), kvcache.Q4_0, 500, 40, []int{100}, chunkedBoundPresses[6:]},
	} {
		var report []string
		prompt := promptOf(tc.e, "Once upon a time, there was a little girl", tc.prompt, rand.New(rand.NewPCG(5, 5)))
		for _, spec := range tc.presses {
			for _, chunk := range tc.chunks {
				peak, bound := chunkedPeak(t, tc.e, tc.typ, spec, prompt, tc.newTok, chunk)
				report = append(report, fmt.Sprintf("%-72s chunks of %3d: most held %8d, bound %8d (%.3f)", spec, chunk, peak, bound, float64(peak)/float64(bound)))
			}
		}
		t.Logf("%s %s, %d-token prompt, %d new tokens:\n%s", tc.name, tc.typ, tc.prompt, tc.newTok, strings.Join(report, "\n"))
	}
}

// chunkedPeak runs one chunked sequence and checks its bytes against the
// bounds, returning the most it held and MaxBytesChunked.
func chunkedPeak(t *testing.T, e *Engine, typ kvcache.DType, spec string, prompt []int, newTokens, chunk int) (peak, bound int64) {
	t.Helper()
	n, m := len(prompt), e.Model
	p := mustPress(t, spec)
	c, s, err := e.NewSequence(n, n+newTokens, typ)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.Config()
	bound = press.MaxBytesChunked(p, cfg, n, newTokens, chunk)
	after := press.MaxBytesChunkedAfterCompress(p, cfg, n, newTokens, chunk)
	compressed := false
	check := func(when string) {
		t.Helper()
		b := c.Bytes()
		if b > bound || compressed && b > after {
			t.Fatalf("%s %s in chunks of %d, %s: %d bytes, MaxBytesChunked %d, after Compress %d", spec, typ, chunk, when, b, bound, after)
		}
		peak = max(peak, b)
	}
	k, err := newChunker(c, p, n, chunk)
	if err != nil {
		t.Fatal(err)
	}
	check("the first chunk allocated")
	for {
		for c.Next() < k.end() {
			step := prompt[c.Next():min(k.end(), c.Next()+48)]
			if _, err := m.Forward(s, c, step, false, k.obs); err != nil {
				t.Fatal(err)
			}
			check(fmt.Sprintf("prefilled to %d", c.Next()))
		}
		last := k.last()
		if err := k.compress(m, c); err != nil {
			t.Fatal(err)
		}
		compressed = last
		check(fmt.Sprintf("compressed at %d", c.Next()))
		if last {
			break
		}
	}
	for i := range newTokens {
		if _, err := e.Decode(s, c, prompt[i%n], p); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("decoded %d", i+1))
	}
	return peak, bound
}

// TestCheckRequestChunked: a 65,000-token prompt in a context of 65,536 on
// the needle model, compressed in chunks of 256 by SnapKV (256 tokens) and
// ThinK, needs press.MaxBytesChunked for its cache, not an uncompressed
// cache of every token (2048 bytes a token: 133.2 MB), so CheckRequest
// accepts it in memory the whole prompt would not fit, and refuses it, its
// chunks named, one byte below its need; the scheduler reserves the same
// bound. On stories260K, Generate runs a chunked request in memory that
// refuses the same request prefilled whole.
func TestCheckRequestChunked(t *testing.T) {
	e, err := Load(sharedtest.Path(t, "models", "needle", "needle.gguf"), "", 65536)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const n, maxNew, chunk, budget = 65000, 16, 256, 256
	prompt := make([]int, n)
	for i := range prompt {
		prompt[i] = 3 + i%500
	}
	p := mustPress(t, "snapkv:budget=256+think:ratio=0.5")
	req := Request{Prompt: prompt, MaxNew: maxNew, Press: p, ChunkedCompress: chunk}
	need, whole := e.RequestNeed(req), e.MemoryNeed(n, maxNew, kvcache.F16)
	cfg := e.cacheConfig(kvcache.F16, n+maxNew-1)
	if want := press.MaxBytesChunked(p, cfg, n, maxNew-1, chunk); need.KV != want || need.Chunk != chunk || need.Tokens != n+maxNew-1 ||
		need.Scratch != whole.Scratch || need.Weights != whole.Weights {
		t.Fatalf("need %+v, want KV %d, the rest as MemoryNeed's %+v", need, want, whole)
	}
	if whole.KV != 2048*int64(n+maxNew-1) || need.KV > cfg.TokenBytes()*(budget+2*chunk) {
		t.Fatalf("KV %d in chunks, %d whole: want the budget and a chunk or two, against every token", need.KV, whole.KV)
	}
	if r := e.Reservation(req); r != press.MaxBytesChunked(p, cfg, n, maxNew, chunk) {
		t.Errorf("Reservation %d, want MaxBytesChunked %d", r, press.MaxBytesChunked(p, cfg, n, maxNew, chunk))
	}
	if r := e.CompressedReservation(req); r != press.MaxBytesChunkedAfterCompress(p, cfg, n, maxNew, chunk) || r > e.Reservation(req) {
		t.Errorf("CompressedReservation %d, want MaxBytesChunkedAfterCompress %d", r, press.MaxBytesChunkedAfterCompress(p, cfg, n, maxNew, chunk))
	}
	e.Limits = limits(memlimit.Limit{Source: "MemAvailable", Bytes: need.Total()})
	if err := e.CheckRequest(req); err != nil {
		t.Errorf("chunked, with its need available: %v", err)
	}
	whole0 := req
	whole0.ChunkedCompress = 0
	if err := e.CheckRequest(whole0); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("KV cache for %d tokens %s", n+maxNew-1, memlimit.FormatBytes(whole.KV))) {
		t.Errorf("whole prompt: %v", err)
	}
	e.Limits = limits(memlimit.Limit{Source: "MemAvailable", Bytes: need.Total() - 1})
	if err := e.CheckRequest(req); err == nil || !strings.Contains(err.Error(), "needs about "+need.String()) ||
		!strings.Contains(err.Error(), fmt.Sprintf("KV cache for %d tokens (compressed in chunks of %d) %s", n+maxNew-1, chunk, memlimit.FormatBytes(need.KV))) {
		t.Errorf("chunked, one byte short: %v", err)
	}

	s := loadStories(t, 1024)
	small := Request{Prompt: promptOf(s, "Once upon a time", 900, rand.New(rand.NewPCG(1, 1))), MaxNew: 8, Press: mustPress(t, "snapkv:budget=64"), ChunkedCompress: 64}
	s.Limits = limits(memlimit.Limit{Source: "MemAvailable", Bytes: s.RequestNeed(small).Total()})
	if res, err := s.Generate(small); err != nil || res.KVBytes > s.RequestNeed(small).KV {
		t.Errorf("stories260K in chunks: %v, %+v", err, res)
	}
	small.ChunkedCompress = 0
	if _, err := s.Generate(small); err == nil || !strings.Contains(err.Error(), "KV cache for 907 tokens 580.5 kB") {
		t.Errorf("stories260K whole: %v", err)
	}
}
