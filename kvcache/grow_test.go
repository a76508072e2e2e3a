package kvcache_test

import (
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// grown is the closed form of the rows a segment holds after n ≥ 1 tokens
// arrived one at a time into a cache of the given Capacity: 64 doubled
// ⌈log2(n/64)⌉ times (64 up to 64 tokens), at most the capacity.
func grown(n, capacity int) int {
	return min(capacity, 64<<bits.Len(uint((n-1)/64)))
}

// appendAll appends token p's key and value, drawn from rng, to every head.
func appendAll(c *kvcache.Cache, rng *rand.Rand, p int) {
	cfg := c.Config()
	for l := range cfg.Layers {
		for g := range cfg.KVHeads {
			c.Head(l, g).Append(p, randVec(rng, cfg.HeadDim), randVec(rng, cfg.HeadDim))
		}
	}
}

// TestGrowMatchesReserved fills a cache whose limit is a billion tokens one
// token at a time, and another with the same tokens after reserving all of
// them up front (Grow(n)): Bytes follows the doubling closed form at every
// step (never the limit), the reserved one holds exactly n rows throughout,
// and both end with identical positions, keys, values and attention outputs.
func TestGrowMatchesReserved(t *testing.T) {
	const layers, kvh, d, n = 2, 2, 16, 300
	for _, typ := range allTypes {
		cfg := kvcache.Config{Layers: layers, KVHeads: kvh, HeadDim: d, Type: typ, Capacity: 1_000_000_000}
		grow, _ := kvcache.New(cfg)
		reserved, _ := kvcache.New(cfg)
		if err := reserved.Grow(n); err != nil {
			t.Fatal(err)
		}
		tok := cfg.TokenBytes()
		if want := int64(layers*kvh*2) * rowBytesRef(typ, d); tok != want {
			t.Fatalf("TokenBytes %d, want %d", tok, want)
		}
		if grow.Bytes() != 0 || reserved.Bytes() != tok*n {
			t.Fatalf("%v: before any token Bytes %d and %d, want 0 and %d", typ, grow.Bytes(), reserved.Bytes(), tok*n)
		}
		ra, rb := rand.New(rand.NewPCG(3, 4)), rand.New(rand.NewPCG(3, 4))
		for p := range n {
			if err := grow.Grow(1); err != nil {
				t.Fatal(err)
			}
			appendAll(grow, ra, p)
			grow.Advance(1)
			appendAll(reserved, rb, p)
			reserved.Advance(1)
			if want := tok * int64(grown(p+1, cfg.Capacity)); grow.Bytes() != want {
				t.Fatalf("%v after %d tokens: Bytes %d, want %d", typ, p+1, grow.Bytes(), want)
			}
			if reserved.Bytes() != tok*n {
				t.Fatalf("%v after %d tokens: reserved cache reallocated to %d bytes", typ, p+1, reserved.Bytes())
			}
		}
		if grow.HeldBytes() != tok*n || reserved.HeldBytes() != tok*n {
			t.Fatalf("HeldBytes %d and %d, want %d", grow.HeldBytes(), reserved.HeldBytes(), tok*n)
		}
		q := randVec(ra, 3*d)
		rowA, rowB := make([]float32, d), make([]float32, d)
		for l := range layers {
			for g := range kvh {
				a, b := grow.Head(l, g), reserved.Head(l, g)
				if !slices.Equal(a.Pos, b.Pos) || a.Len() != n {
					t.Fatalf("positions differ or length %d != %d", a.Len(), n)
				}
				for i := range n {
					a.Key(rowA, i)
					b.Key(rowB, i)
					if !slices.Equal(rowA, rowB) {
						t.Fatalf("key %d differs", i)
					}
					a.Value(rowA, i)
					b.Value(rowB, i)
					if !slices.Equal(rowA, rowB) {
						t.Fatalf("value %d differs", i)
					}
				}
				outA, outB := make([]float32, 3*d), make([]float32, 3*d)
				lim := []int{1, n / 2, n}
				a.AttendBlock(outA, q, lim, 0.25, nil, kvcache.NewScratch(3, d))
				b.AttendBlock(outB, q, lim, 0.25, nil, kvcache.NewScratch(3, d))
				if !slices.Equal(outA, outB) {
					t.Fatalf("attention differs: %v vs %v", outA[:4], outB[:4])
				}
			}
		}
	}
}

// TestGrowLimit checks Capacity is a limit: a prompt reserves itself exactly,
// the next token doubles it but not past Capacity, and a token beyond
// Capacity is refused with a clear error that leaves the cache unchanged.
func TestGrowLimit(t *testing.T) {
	for _, typ := range allTypes {
		testGrowLimit(t, kvcache.Config{Layers: 1, KVHeads: 2, HeadDim: 8, Type: typ, Capacity: 500})
	}
}

func testGrowLimit(t *testing.T, cfg kvcache.Config) {
	c, _ := kvcache.New(cfg)
	rng := rand.New(rand.NewPCG(5, 6))
	tok := cfg.TokenBytes()
	const prompt = 300
	if err := c.Grow(prompt); err != nil {
		t.Fatal(err)
	}
	for p := range prompt {
		appendAll(c, rng, p)
	}
	c.Advance(prompt)
	if c.Bytes() != tok*prompt {
		t.Fatalf("after the prompt: Bytes %d, want %d (exactly the prompt)", c.Bytes(), tok*prompt)
	}
	for p := prompt; p < cfg.Capacity; p++ {
		if err := c.Grow(1); err != nil {
			t.Fatal(err)
		}
		appendAll(c, rng, p)
		c.Advance(1)
		if want := tok * int64(min(2*prompt, cfg.Capacity)); c.Bytes() != want {
			t.Fatalf("after %d tokens: Bytes %d, want %d", p+1, c.Bytes(), want)
		}
	}
	for _, n := range []int{1, 1000, -1} {
		err := c.Grow(n)
		if err == nil || !strings.Contains(err.Error(), "limit of 500 tokens") {
			t.Fatalf("Grow(%d) on a full cache: %v, want an error naming the limit", n, err)
		}
	}
	if c.Bytes() != tok*int64(cfg.Capacity) || c.Next() != cfg.Capacity {
		t.Fatalf("refused Grow changed the cache: Bytes %d Next %d", c.Bytes(), c.Next())
	}
}

// TestGrowBound checks a head that was compressed grows by doubling but never
// past what it can still receive: its tokens plus Capacity − Next.
func TestGrowBound(t *testing.T) {
	for _, tc := range []struct{ capacity, keep, want int }{
		{320, 10, 30},  // 10 kept + 20 to come: 30 rows, not 64
		{1000, 10, 64}, // room to come: at least 64
		{1000, 50, 100},
		{1000, 900, 1000}, // doubling 900 would pass 900 + 100
	} {
		for _, typ := range allTypes {
			testGrowBound(t, kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: 4, Type: typ, Capacity: tc.capacity}, tc.keep, tc.want)
		}
	}
}

func testGrowBound(t *testing.T, cfg kvcache.Config, keep, want int) {
	c, _ := kvcache.New(cfg)
	rng := rand.New(rand.NewPCG(7, 8))
	n := min(900, cfg.Capacity-20)
	c.Grow(n)
	for p := range n {
		appendAll(c, rng, p)
	}
	c.Advance(n)
	h := c.Head(0, 0)
	idx := make([]int, keep)
	for i := range idx {
		idx[i] = n - keep + i
	}
	if err := h.Keep(idx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Grow(1); err != nil {
		t.Fatal(err)
	}
	if b := cfg.TokenBytes() * int64(want); c.Bytes() != b {
		t.Errorf("%v, capacity %d, %d kept: Bytes %d after growing, want %d (%d rows)", cfg.Type, cfg.Capacity, keep, c.Bytes(), b, want)
	}
}
