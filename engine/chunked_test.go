package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// chunkedPresses are the presses the chunked-compression tests run: every
// kind and the compositions of eviction with ThinK.
var chunkedPresses = []string{
	"snapkv:budget=128,window=16",
	"pyramidkv:budget=128",
	"h2o:budget=128,recent=16",
	"streaming:sink=4,recent=124",
	"think:ratio=0.5",
	"think-v:ratio=0.5,pack=8",
	"snapkv:budget=128+think:ratio=0.5",
	"h2o:budget=128,recent=16+think:ratio=0.5+think-v:ratio=0.25",
}

// sameCaches reports how a and b differ (positions, kept channels, scores,
// every key and value bit, bytes), or "" if they do not.
func sameCaches(a, b *kvcache.Cache) string {
	if a.Next() != b.Next() || a.Bytes() != b.Bytes() || a.HeldBytes() != b.HeldBytes() {
		return fmt.Sprintf("next %d/%d, bytes %d/%d, held %d/%d", a.Next(), b.Next(), a.Bytes(), b.Bytes(), a.HeldBytes(), b.HeldBytes())
	}
	cfg := a.Config()
	ra, rb := make([]float32, cfg.HeadDim), make([]float32, cfg.HeadDim)
	for l := range cfg.Layers {
		for g := range cfg.KVHeads {
			ha, hb := a.Head(l, g), b.Head(l, g)
			if fmt.Sprint(ha.Pos, ha.KeyKept, ha.ValKept, ha.Score) != fmt.Sprint(hb.Pos, hb.KeyKept, hb.ValKept, hb.Score) {
				return fmt.Sprintf("layer %d head %d: positions, kept channels or scores differ", l, g)
			}
			for i := range ha.Len() {
				ha.Key(ra, i)
				hb.Key(rb, i)
				ka := slices.Equal(ra, rb)
				ha.Value(ra, i)
				hb.Value(rb, i)
				if !ka || !slices.Equal(ra, rb) {
					return fmt.Sprintf("layer %d head %d: token %d differs", l, g, i)
				}
			}
		}
	}
	return ""
}

// TestChunkedOneChunkIsWhole: chunked compression whose one chunk is the
// whole prompt is whole-prompt compression, bit for bit: the prompt's
// logits, the cache, and the logits of tokens decoded after; through the
// scheduler (its token budget splitting the chunk in steps), the same
// tokens and bytes as without chunking.
func TestChunkedOneChunkIsWhole(t *testing.T) {
	e := loadStories(t, 512)
	rng := rand.New(rand.NewPCG(1, 2))
	prompt := promptOf(e, "Once upon a time, there was a little girl", 300, rng)
	forced := promptOf(e, "She went to the park", 40, rng)
	run := func(spec string, chunk int) ([][]float32, *kvcache.Cache) {
		c, s, err := e.NewSequence(len(prompt), len(prompt)+len(forced), kvcache.F16)
		if err != nil {
			t.Fatal(err)
		}
		p := mustPress(t, spec)
		logits, err := e.PrefillChunked(s, c, prompt, p, chunk)
		if err != nil {
			t.Fatal(err)
		}
		out := [][]float32{slices.Clone(logits)}
		for _, tok := range forced {
			if logits, err = e.Decode(s, c, tok, p); err != nil {
				t.Fatal(err)
			}
			out = append(out, slices.Clone(logits))
		}
		return out, c
	}
	for _, spec := range chunkedPresses {
		want, wc := run(spec, 0)
		for _, chunk := range []int{len(prompt), 1 << 20} {
			got, gc := run(spec, chunk)
			if d := sameCaches(gc, wc); d != "" {
				t.Fatalf("%s in one chunk of %d: cache after decoding differs: %s", spec, chunk, d)
			}
			for i := range want {
				if !slices.EqualFunc(got[i], want[i], func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
					t.Fatalf("%s in one chunk of %d: logits %d differ", spec, chunk, i)
				}
			}
		}
		req := Request{Prompt: prompt, MaxNew: 24, Press: mustPress(t, spec)}
		whole := schedule(t, e, req, 48)
		req.ChunkedCompress = len(prompt)
		if one := schedule(t, e, req, 48); !slices.Equal(one.Tokens, whole.Tokens) || one.KVBytes != whole.KVBytes {
			t.Fatalf("%s: the scheduler in one chunk generated %v (%d bytes), whole %v (%d bytes)", spec, one.Tokens, one.KVBytes, whole.Tokens, whole.KVBytes)
		}
	}
}

// schedule runs req alone through a scheduler of the given token budget.
func schedule(t *testing.T, e *Engine, req Request, budget int) *Result {
	t.Helper()
	s := e.NewScheduler(SchedulerConfig{TokenBudget: budget})
	defer s.Close()
	st, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Collect(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestSchedulerChunked runs chunked-compression requests among ordinary
// ones through a scheduler whose token budget is below the chunk size for
// some and above it for others (a step never passes a chunk's end, where
// the press compresses): each gives what PrefillChunked and decoding alone
// give, and the budget invariants hold at every step.
func TestSchedulerChunked(t *testing.T) {
	e := loadStories(t, 1024)
	cases := mixedRequests(t, e, 12, append(chunkedPresses, "none"), 150, 700, 20, 5)
	for i := range cases {
		if cases[i].req.Press != nil && i%4 != 3 {
			cases[i].req.ChunkedCompress = []int{40, 100, 256}[i%3]
			cases[i].name += fmt.Sprintf(" chunks of %d", cases[i].req.ChunkedCompress)
		}
	}
	for _, budget := range []int{64, 300} {
		runConcurrently(t, e, SchedulerConfig{MaxSeqs: 4, TokenBudget: budget}, cases)
	}
	if _, err := e.NewScheduler(SchedulerConfig{}).Submit(context.Background(), Request{Prompt: []int{1, 2}, ChunkedCompress: -1}); err == nil ||
		!strings.Contains(err.Error(), "negative chunk size") {
		t.Errorf("a negative chunk size: %v", err)
	}
}

// TestChunkedBytesBounded prefills a 1000-token prompt in chunks of 64 and
// checks the cache's bytes after every chunk and every compression: never
// more than an uncompressed cache of budget + chunk tokens, and exactly the
// closed form once the budget is reached: TokenBytes·(S+C) for eviction
// (H2O's one row of reserve made room for the next chunk), and per head keys
// (S−R)·T + (R+C)·D, values (S+C)·D for SnapKV then ThinK. After the last
// chunk the cache holds the bytes whole-prompt compression leaves, while
// the whole prompt's prefill held all of it.
func TestChunkedBytesBounded(t *testing.T) {
	e := loadStories(t, 1024)
	const n, chunk, budget, recent = 1000, 64, 128, 32
	prompt := promptOf(e, "Once upon a time", n, rand.New(rand.NewPCG(4, 4)))
	m := e.Model
	d := m.HeadDim
	evict := func(room int) int { return 2 * (budget + room) * d }
	for _, tc := range []struct {
		spec  string
		elems func(room int) int // per head once the budget is reached, with room for the next chunk
	}{
		{"snapkv:budget=128", evict},
		{"h2o:budget=128,recent=32", evict},
		{"streaming:sink=4,recent=124", evict},
		{"snapkv:budget=128+think:ratio=0.5", func(room int) int { return (budget-recent)*d/2 + (recent+room)*d + (budget+room)*d }},
	} {
		p := mustPress(t, tc.spec)
		c, s, err := e.NewSequence(n, n+16, kvcache.F16)
		if err != nil {
			t.Fatal(err)
		}
		cfg := c.Config()
		limit := cfg.TokenBytes() * (budget + chunk)
		k, err := newChunker(c, p, n, chunk)
		if err != nil {
			t.Fatal(err)
		}
		peak := c.Bytes()
		for {
			if _, err := m.Forward(s, c, prompt[c.Next():k.end()], false, k.obs); err != nil {
				t.Fatal(err)
			}
			peak = max(peak, c.Bytes())
			if b := c.Bytes(); b > limit {
				t.Fatalf("%s: %d bytes after the chunk ending at %d, more than budget + chunk's %d", tc.spec, b, k.end(), limit)
			}
			if k.last() {
				break
			}
			if err := k.compress(m, c); err != nil {
				t.Fatal(err)
			}
			want := int64(cfg.Layers*cfg.KVHeads*tc.elems(min(chunk, n-c.Next()))) * cfg.Type.Size()
			if b := c.Bytes(); c.Next() > budget && b != want {
				t.Fatalf("%s: %d bytes compressed at %d, want %d", tc.spec, b, c.Next(), want)
			}
		}
		if err := k.compress(m, c); err != nil {
			t.Fatal(err)
		}
		wc, ws, _ := e.NewSequence(n, n+16, kvcache.F16)
		if _, err := e.Prefill(ws, wc, prompt, mustPress(t, tc.spec)); err != nil {
			t.Fatal(err)
		}
		if c.Bytes() != wc.Bytes() {
			t.Errorf("%s: %d bytes after the last chunk, whole-prompt compression %d", tc.spec, c.Bytes(), wc.Bytes())
		}
		t.Logf("%-36s most held while prefilling in chunks %d bytes (budget + chunk: %d), the whole prompt's %d",
			tc.spec, peak, limit, cfg.TokenBytes()*n)
	}
}
