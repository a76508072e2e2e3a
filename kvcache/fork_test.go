package kvcache_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// fingerprint returns everything a cache's users can observe besides bytes:
// configuration, next position, reserve, and per head its length, split,
// positions, kept channels, scores and every key and value row (zero-filled
// in pruned channels), as 32-bit words so that equality is bit-identity.
func fingerprint(c *kvcache.Cache) []uint32 {
	cfg := c.Config()
	out := []uint32{uint32(cfg.Layers), uint32(cfg.KVHeads), uint32(cfg.HeadDim), uint32(cfg.Type), uint32(cfg.Capacity),
		uint32(c.Next()), uint32(c.Reserve())}
	row := make([]float32, cfg.HeadDim)
	for l := range cfg.Layers {
		for g := range cfg.KVHeads {
			h := c.Head(l, g)
			nk, nv := h.Split()
			out = append(out, uint32(h.Len()), uint32(nk), uint32(nv), uint32(len(h.KeyKept)), uint32(len(h.ValKept)))
			for _, x := range h.KeyKept {
				out = append(out, uint32(x))
			}
			for _, x := range h.ValKept {
				out = append(out, uint32(x))
			}
			for _, p := range h.Pos {
				out = append(out, uint32(p))
			}
			out = append(out, uint32(len(h.Score)), b2u(h.Score != nil))
			for _, s := range h.Score {
				out = append(out, math.Float32bits(s))
			}
			for i := range h.Len() {
				h.Key(row, i)
				out = appendBits(out, row)
				h.Value(row, i)
				out = appendBits(out, row)
			}
		}
	}
	return out
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func appendBits(out []uint32, x []float32) []uint32 {
	for _, v := range x {
		out = append(out, math.Float32bits(v))
	}
	return out
}

// attention returns, as bits, every head's AttendBlock outputs and
// log-normalisers for three queries (limits: all tokens, one, about half),
// drawn from seed, and the first query's logits over all tokens.
func attention(c *kvcache.Cache, seed uint64) []uint32 {
	cfg := c.Config()
	d := cfg.HeadDim
	rng := rand.New(rand.NewPCG(seed, 99))
	s := kvcache.NewScratch(3, d)
	scale := float32(1 / math.Sqrt(float64(d)))
	var out []uint32
	for l := range cfg.Layers {
		for g := range cfg.KVHeads {
			h := c.Head(l, g)
			n := h.Len()
			if n == 0 {
				continue
			}
			q := randVec(rng, 3*d)
			lim := []int{n, 1, n/2 + 1}
			o, lse := make([]float32, 3*d), make([]float32, 3)
			h.AttendBlock(o, q, lim, scale, lse, s)
			logits := make([]float32, n)
			h.Logits(logits, q[:d], n, scale, make([]float32, d))
			out = appendBits(appendBits(appendBits(out, o), lse), logits)
		}
	}
	return out
}

// extend appends k tokens drawn from rng to every head, growing room for all
// of them at once (reserved) or one at a time, as the model does.
func extend(t *testing.T, c *kvcache.Cache, rng *rand.Rand, k int, reserved bool) {
	t.Helper()
	if reserved {
		if err := c.Grow(k); err != nil {
			t.Fatal(err)
		}
	}
	for range k {
		if !reserved {
			if err := c.Grow(1); err != nil {
				t.Fatal(err)
			}
		}
		appendAll(c, rng, c.Next())
		c.Advance(1)
	}
}

// operate applies operation kind to c with parameters drawn from seed (and
// from c's shape, so that equal caches get equal operations): extending,
// evicting, keeping a subset, pruning keys or values, reserving room in the
// full segments, or tracking and accumulating scores as H2O and the model do.
func operate(t *testing.T, c *kvcache.Cache, kind int, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	cfg := c.Config()
	each := func(f func(h *kvcache.Head) error) {
		for l := range cfg.Layers {
			for g := range cfg.KVHeads {
				if err := f(c.Head(l, g)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	switch kind {
	case 0:
		k := 1 + rng.IntN(70)
		if k > c.Remaining() {
			return "extend (skipped: full)"
		}
		extend(t, c, rng, k, rng.IntN(2) == 0)
		return fmt.Sprintf("extend %d", k)
	case 1:
		each(func(h *kvcache.Head) error {
			if h.Len() > 1 {
				h.Evict(rng.IntN(h.Len()))
			}
			return nil
		})
		return "evict"
	case 2:
		each(func(h *kvcache.Head) error {
			return h.Keep(randSubset(rng, h.Len(), h.Len()*3/4), rng.IntN(10))
		})
		return "keep"
	case 3, 4:
		each(func(h *kvcache.Head) error {
			kept, recent, extra := randSubset(rng, cfg.HeadDim, 1+rng.IntN(cfg.HeadDim-1)), rng.IntN(20), rng.IntN(10)
			if kind == 3 && h.KeyKept == nil {
				return h.PruneKeys(kept, recent, extra)
			}
			if kind == 4 && h.ValKept == nil {
				return h.PruneValues(kept, recent, extra)
			}
			return nil
		})
		return map[int]string{3: "prune keys", 4: "prune values"}[kind]
	case 5:
		each(func(h *kvcache.Head) error {
			h.ReserveFull(rng.IntN(40))
			return nil
		})
		return "reserve full"
	default:
		each(func(h *kvcache.Head) error {
			if h.Score == nil {
				h.Score = make([]float32, h.Len())
			}
			for i := range h.Score {
				h.Score[i] += float32(rng.Float64())
			}
			return nil
		})
		return "scores"
	}
}

// pruneAll prunes every head's keys (or values) to the even channels,
// leaving the last recent tokens full, with room for extra more.
func pruneAll(t *testing.T, c *kvcache.Cache, values bool, recent, extra int) {
	t.Helper()
	cfg := c.Config()
	var kept []int
	for j := 0; j < cfg.HeadDim; j += 2 {
		kept = append(kept, j)
	}
	for l := range cfg.Layers {
		for g := range cfg.KVHeads {
			h := c.Head(l, g)
			var err error
			if values {
				err = h.PruneValues(kept, recent, extra)
			} else {
				err = h.PruneKeys(kept, recent, extra)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// newFilled returns a cache of n tokens drawn from rng, prefilled as the
// model does (Grow(n), then one append per token and head).
func newFilled(t *testing.T, cfg kvcache.Config, rng *rand.Rand, n int) *kvcache.Cache {
	t.Helper()
	c, err := kvcache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	extend(t, c, rng, n, true)
	return c
}

// TestCloneIsDeep checks that a clone is observably identical to its source
// (rows, positions, kept channels, scores, next position, reserve limit,
// Bytes, HeldBytes, attention) and shares nothing with it: operating on one
// leaves the other as it was.
func TestCloneIsDeep(t *testing.T) {
	for _, typ := range allTypes {
		rng := rand.New(rand.NewPCG(1, uint64(typ)))
		c := newFilled(t, kvcache.Config{Layers: 2, KVHeads: 2, HeadDim: 16, Type: typ, Capacity: 1000}, rng, 130)
		operate(t, c, 3, 1)
		operate(t, c, 6, 2)
		c.LimitReserve(5)
		d := c.Clone()
		before := fingerprint(c)
		if !slices.Equal(fingerprint(d), before) || !slices.Equal(attention(d, 3), attention(c, 3)) {
			t.Fatalf("%v: clone differs from its source", typ)
		}
		if d.Bytes() != c.Bytes() || d.HeldBytes() != c.HeldBytes() || d.Reserve() != 5 {
			t.Fatalf("%v: clone Bytes %d HeldBytes %d Reserve %d, source %d %d 5", typ, d.Bytes(), d.HeldBytes(), d.Reserve(), c.Bytes(), c.HeldBytes())
		}
		for kind := range 7 {
			operate(t, d, kind, uint64(10+kind))
		}
		if !slices.Equal(fingerprint(c), before) {
			t.Fatalf("%v: operating on the clone changed its source", typ)
		}
		if slices.Equal(fingerprint(d), before) {
			t.Fatalf("%v: the operations changed nothing: the test tests nothing", typ)
		}
	}
}

// pair is a cache under test and a clone that must stay identical to it.
type pair struct {
	a, b *kvcache.Cache
	name string
}

// TestForkMatchesClone grows a family of forks — forks of the parent, forks
// of forks after they grew or were reshaped — each paired with a Clone taken
// at the same moment, applies random operations (append one at a time or
// reserved, Evict, Keep, PruneKeys, PruneValues, ReserveFull, scores) to one
// pair at a time, parent included, and after every step checks every pair:
// the fork (or parent) and its clone have bit-identical rows, positions,
// scores, attention outputs, normalisers and logits, and equal HeldBytes. As
// clones share nothing, an operation that changed a prefix shared with
// another fork would show there.
func TestForkMatchesClone(t *testing.T) {
	for _, typ := range allTypes {
		rng := rand.New(rand.NewPCG(5, uint64(typ)))
		p := newFilled(t, kvcache.Config{Layers: 2, KVHeads: 2, HeadDim: 16, Type: typ, Capacity: 3000}, rng, 150)
		operate(t, p, 3, 1) // keys pruned before the first fork
		// Values pruned too, none left full but with room for 10: the full
		// value segments are empty and have spare room at the first forks.
		pruneAll(t, p, true, 0, 10)
		pairs := []pair{{p, p.Clone(), "parent"}}
		// Two forks at once, each pair then extended by three tokens one at
		// a time: into the spare room of the parent's empty full value
		// segments, and into the forks' own new tails.
		pairs = append(pairs, pair{p.Fork(), p.Clone(), "fork 1 of parent"}, pair{p.Fork(), p.Clone(), "fork 2 of parent"})
		for i, q := range pairs {
			extend(t, q.a, rand.New(rand.NewPCG(uint64(i), 1)), 3, false)
			extend(t, q.b, rand.New(rand.NewPCG(uint64(i), 1)), 3, false)
		}
		forks, reshaped := 2, 0
		for step := range 120 {
			i := rng.IntN(len(pairs))
			pr := &pairs[i]
			var what string
			if rng.IntN(6) == 0 {
				pairs = append(pairs, pair{pr.a.Fork(), pr.b.Clone(), fmt.Sprintf("fork %d of %s", len(pairs), pr.name)})
				what, forks = "fork", forks+1
			} else {
				kind, seed := rng.IntN(7), rng.Uint64()
				what = operate(t, pr.a, kind, seed)
				operate(t, pr.b, kind, seed)
				if kind >= 1 && kind <= 4 {
					reshaped++
				}
			}
			for _, q := range pairs {
				if !slices.Equal(fingerprint(q.a), fingerprint(q.b)) {
					t.Fatalf("%v step %d (%s on %s): %s differs from its clone", typ, step, what, pr.name, q.name)
				}
				if !slices.Equal(attention(q.a, uint64(step)), attention(q.b, uint64(step))) {
					t.Fatalf("%v step %d (%s on %s): %s attends differently from its clone", typ, step, what, pr.name, q.name)
				}
				if q.a.HeldBytes() != q.b.HeldBytes() || q.a.Bytes() != q.a.SharedBytes()+q.a.OwnBytes() {
					t.Fatalf("%v step %d: %s HeldBytes %d (clone %d), Bytes %d ≠ shared %d + own %d", typ, step, q.name,
						q.a.HeldBytes(), q.b.HeldBytes(), q.a.Bytes(), q.a.SharedBytes(), q.a.OwnBytes())
				}
			}
		}
		if forks < 5 || reshaped < 20 || len(pairs) < 6 {
			t.Fatalf("%v: only %d forks and %d reshaping operations: too few to test", typ, forks, reshaped)
		}
		t.Logf("%v: %d caches, %d forks, %d reshaping operations; together %d bytes, as clones %d", typ, len(pairs), forks, reshaped,
			kvcache.TotalBytes(column(pairs, true)...), kvcache.TotalBytes(column(pairs, false)...))
	}
}

func column(ps []pair, a bool) []*kvcache.Cache {
	var out []*kvcache.Cache
	for _, p := range ps {
		if a {
			out = append(out, p.a)
		} else {
			out = append(out, p.b)
		}
	}
	return out
}

// TestForkConcurrent extends, reshapes and attends over several forks and
// their parent at once, one goroutine each (run with -race: the shared
// prefix is only read), then checks each against the same operations run on
// a clone.
func TestForkConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	p := newFilled(t, kvcache.Config{Layers: 2, KVHeads: 2, HeadDim: 32, Type: kvcache.F16, Capacity: 2000}, rng, 300)
	operate(t, p, 3, 4)
	pruneAll(t, p, true, 0, 10) // empty full value segments with spare room
	caches := []*kvcache.Cache{p}
	clones := []*kvcache.Cache{p.Clone()}
	for range 4 {
		caches = append(caches, p.Fork())
		clones = append(clones, p.Clone())
	}
	run := func(c *kvcache.Cache, i int) []uint32 {
		extend(t, c, rand.New(rand.NewPCG(uint64(i), 2)), 5, false)
		att := attention(c, 0)
		for k, kind := range []int{0, 1, 0, 2, 6, 0, 4, 0} {
			operate(t, c, kind, uint64(100*i+k))
			att = append(att, attention(c, uint64(k))...)
		}
		return att
	}
	got := make([][]uint32, len(caches))
	var wg sync.WaitGroup
	for i, c := range caches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = run(c, i)
		}()
	}
	wg.Wait()
	for i, c := range clones {
		if !slices.Equal(run(c, i), got[i]) || !slices.Equal(fingerprint(c), fingerprint(caches[i])) {
			t.Fatalf("cache %d (0: the parent) differs from its clone after concurrent use", i)
		}
	}
}

// TestForkBytes measures N forks of a needle-model-shaped compressed prefix
// against N clones, in closed form: 4 layers × 2 KV heads of dimension 64,
// every storage type, a 2,048-token prompt prefilled with Grow (allocated exactly), keys
// pruned by ThinK at ratio 0.5 (32 channels kept, the 32 most recent tokens
// full) with the cache's Reserve as room; then N = 8 forks (or clones), each
// extended by 64 tokens one at a time as decoding does.
func TestForkBytes(t *testing.T) {
	for _, typ := range allTypes {
		testForkBytes(t, typ)
	}
}

func testForkBytes(t *testing.T, typ kvcache.DType) {
	const (
		layers, kvh, d, prompt, recent, tail, n = 4, 2, 64, 2048, 32, 64, 8
		heads                                   = layers * kvh
	)
	cfg := kvcache.Config{Layers: layers, KVHeads: kvh, HeadDim: d, Type: typ, Capacity: prompt + tail}
	row, half := rowBytesRef(typ, d), rowBytesRef(typ, d/2) // a row's bytes, full and pruned
	build := func() *kvcache.Cache {
		rng := rand.New(rand.NewPCG(2048, 64))
		c := newFilled(t, cfg, rng, prompt)
		kept := make([]int, 0, d/2)
		for j := 0; j < d; j += 2 {
			kept = append(kept, j)
		}
		for l := range layers {
			for g := range kvh {
				if err := c.Head(l, g).PruneKeys(kept, recent, c.Reserve()); err != nil {
					t.Fatal(err)
				}
			}
		}
		return c
	}
	p := build()
	reserve := min(cfg.Capacity-prompt, prompt) // Reserve(): 64
	// The compressed prefix, per head: pruned keys (2016 rows × 32), the
	// recent full keys (32 × 64, with room for 64 more) and values (2048 × 64).
	pruned, fullK, vals := int64(prompt-recent)*half, int64(recent)*row, int64(prompt)*row
	if want := heads * (pruned + fullK + int64(reserve)*row + vals); p.Bytes() != want {
		t.Fatalf("%v compressed prefix: Bytes %d, want %d", typ, p.Bytes(), want)
	}
	clone := p.Clone()
	forks := make([]*kvcache.Cache, n)
	clones := make([]*kvcache.Cache, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range forks {
		forks[i], clones[i] = p.Fork(), clone.Clone()
		seed := rng.Uint64()
		extend(t, forks[i], rand.New(rand.NewPCG(seed, 0)), tail, false)
		extend(t, clones[i], rand.New(rand.NewPCG(seed, 0)), tail, false)
		if !slices.Equal(attention(forks[i], seed), attention(clones[i], seed)) {
			t.Fatalf("fork %d attends differently from its clone", i)
		}
	}
	// Frozen at the first fork: the pruned keys and the values as they are
	// (allocated exactly), the 32 recent full keys copied without their
	// spare room. Each fork's tail: 64 rows of full keys and of values.
	prefix := heads * (pruned + fullK + vals)
	tailBytes := heads * int64(2*tail) * row
	for i, f := range forks {
		if f.SharedBytes() != prefix || f.OwnBytes() != tailBytes || f.Bytes() != prefix+tailBytes || f.HeldBytes() != f.Bytes() {
			t.Fatalf("fork %d: shared %d own %d Bytes %d HeldBytes %d, want %d + %d", i, f.SharedBytes(), f.OwnBytes(), f.Bytes(), f.HeldBytes(), prefix, tailBytes)
		}
	}
	if p.OwnBytes() != 0 || p.SharedBytes() != prefix {
		t.Fatalf("parent after forking: own %d shared %d, want 0 and %d", p.OwnBytes(), p.SharedBytes(), prefix)
	}
	total := kvcache.TotalBytes(append([]*kvcache.Cache{p}, forks...)...)
	if want := prefix + n*tailBytes; total != want || kvcache.TotalBytes(forks...) != want {
		t.Fatalf("%d forks hold %d bytes together, want prefix %d + %d tails of %d = %d", n, total, prefix, n, tailBytes, want)
	}
	// A clone extended by 64 tokens: its full keys fit in their reserved room
	// (32 + 64 rows); its values grow from 2048 to 2112 rows (the limit).
	perClone := heads * (pruned + int64(recent+reserve)*row + int64(prompt+tail)*row)
	if got := kvcache.TotalBytes(clones...); got != n*perClone || clones[0].Bytes() != perClone {
		t.Fatalf("%d clones hold %d bytes (one %d), want %d each", n, got, clones[0].Bytes(), perClone)
	}
	t.Logf("%v: %d forks of a %d-token ThinK-0.5 prefix (%d bytes), each extended by %d tokens (%d bytes): %d bytes together; %d clones: %d bytes (%.2f×); uncompressed: %d bytes",
		typ, n, prompt, prefix, tail, tailBytes, total, n, n*perClone, float64(n*perClone)/float64(total), n*cfg.TokenBytes()*(prompt+tail))

	var pos int
	for l := range layers {
		for g := range kvh {
			pos += 4 * cap(forks[0].Head(l, g).Pos)
		}
	}
	if pos != heads*4*(prompt+tail) {
		t.Fatalf("a fork's positions take %d bytes, want %d", pos, heads*4*(prompt+tail))
	}
	t.Logf("besides Bytes, each fork holds its own positions: %d bytes", pos)

	// A fork of a fork that grew: its full segments (frozen prefix plus its
	// own 64-token tail) merge into one new frozen block, exactly sized; its
	// pruned keys, which had no tail, stay shared with everyone.
	g := forks[0].Fork()
	merged := heads * (pruned + int64(recent+tail)*row + int64(prompt+tail)*row)
	if g.SharedBytes() != merged || g.OwnBytes() != 0 || forks[0].SharedBytes() != merged || forks[0].OwnBytes() != 0 {
		t.Fatalf("fork of a fork: shared %d own %d (its parent %d, %d), want %d and 0", g.SharedBytes(), g.OwnBytes(), forks[0].SharedBytes(), forks[0].OwnBytes(), merged)
	}
	all := append([]*kvcache.Cache{p, g}, forks...)
	if want := prefix + (n-1)*tailBytes + (merged - heads*pruned); kvcache.TotalBytes(all...) != want {
		t.Fatalf("with a fork of a fork: %d bytes together, want %d", kvcache.TotalBytes(all...), want)
	}
	// Forking a cache with no tail of its own copies nothing.
	before := kvcache.TotalBytes(all...)
	h := p.Fork()
	if kvcache.TotalBytes(append(all, h)...) != before || h.Bytes() != prefix {
		t.Fatalf("forking the parent again: %d bytes together (before %d), the fork %d", kvcache.TotalBytes(append(all, h)...), before, h.Bytes())
	}
}

// BenchmarkAttendFork times one decode step of one KV head (head_dim 128, 4
// query heads) over a 2,048-token prefix with ThinK-pruned keys, extended by
// 64 tokens: on a fork (prefix shared, tail owned) and on a clone (one block
// per segment), which should take the same time.
func BenchmarkAttendFork(b *testing.B) {
	const d, group, n, tail = 128, 4, 2048, 64
	for _, fork := range []bool{false, true} {
		b.Run(map[bool]string{false: "clone", true: "fork"}[fork], func(b *testing.B) {
			c, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: d, Type: kvcache.F16, Capacity: n + tail})
			rng := rand.New(rand.NewPCG(1, 1))
			for i := range n {
				c.Head(0, 0).Append(i, randVec(rng, d), randVec(rng, d))
			}
			c.Advance(n)
			var kept []int
			for j := 0; j < d; j += 2 {
				kept = append(kept, j)
			}
			c.Head(0, 0).PruneKeys(kept, 32, c.Reserve())
			if fork {
				c = c.Fork()
			} else {
				c = c.Clone()
			}
			for i := range tail {
				c.Grow(1)
				c.Head(0, 0).Append(n+i, randVec(rng, d), randVec(rng, d))
				c.Advance(1)
			}
			h := c.Head(0, 0)
			q, out := randVec(rng, group*d), make([]float32, group*d)
			lim := []int{h.Len(), h.Len(), h.Len(), h.Len()}
			s := kvcache.NewScratch(group, d)
			b.ResetTimer()
			for range b.N {
				h.AttendBlock(out, q, lim, 0.088, nil, s)
			}
		})
	}
}

// TestForkFrozenReads forks a frozen parent on several goroutines while
// another reads it, as a scheduler does with a prefix submitted again while
// its loop forks it for an earlier request (run with -race: after Freeze,
// Fork must only read the parent), and checks that freezing changed neither
// its contents nor, forked, the forks'.
func TestForkFrozenReads(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	p := newFilled(t, kvcache.Config{Layers: 2, KVHeads: 2, HeadDim: 32, Type: kvcache.Q8_0, Capacity: 600}, rng, 300)
	pruneAll(t, p, false, 0, 10)
	want := fingerprint(p)
	p.Freeze()
	if !slices.Equal(fingerprint(p), want) {
		t.Fatal("Freeze changed the cache's contents")
	}
	forks := make([]*kvcache.Cache, 4)
	var wg sync.WaitGroup
	for i := range forks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Freeze() // again, as every Submit does: a no-op
			forks[i] = p.Fork()
		}()
	}
	var bytes int64
	for range 100 {
		bytes = max(bytes, p.Bytes()+int64(p.Next()+p.Config().Capacity))
	}
	wg.Wait()
	if bytes <= 0 {
		t.Fatal("no bytes read")
	}
	for i, f := range forks {
		if !slices.Equal(fingerprint(f), want) {
			t.Errorf("fork %d of the frozen parent differs from it", i)
		}
	}
}
