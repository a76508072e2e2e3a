package kvcache_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/kvcache"
)

// TestReserve checks the rows kept free on reallocation: everything still to
// come (Capacity − Next, never negative), but at most max(Next, 64) — the room
// an uncompressed cache gets at its next doubling — and at most a LimitReserve cap.
func TestReserve(t *testing.T) {
	c, err := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: 4, Capacity: 100})
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(60)
	if c.Next() != 60 || c.Remaining() != 40 || c.Reserve() != 40 {
		t.Fatalf("Next %d Remaining %d Reserve %d, want 60 40 40", c.Next(), c.Remaining(), c.Reserve())
	}
	for _, tc := range []struct{ limit, want int }{{1, 1}, {0, 0}, {39, 39}, {40, 40}, {1000, 40}} {
		c.LimitReserve(tc.limit)
		if got := c.Reserve(); got != tc.want {
			t.Errorf("LimitReserve(%d): Reserve %d, want %d", tc.limit, got, tc.want)
		}
	}
	c.LimitReserve(1000)
	c.Advance(45) // past capacity
	if c.Reserve() != 0 {
		t.Errorf("past capacity: Reserve %d, want 0", c.Reserve())
	}
	// A large limit is not reserved: min(Capacity − Next, max(Next, 64)).
	big, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: 4, Capacity: 1_000_000_000})
	for _, tc := range []struct{ advance, want int }{{0, 64}, {10, 64}, {54, 64}, {1, 65}, {935, 1000}, {999_997_000, 2000}} {
		big.Advance(tc.advance)
		if got := big.Reserve(); got != tc.want {
			t.Errorf("Capacity 1e9, Next %d: Reserve %d, want %d", big.Next(), got, tc.want)
		}
	}
}

// TestBytesClosedForm builds caches the way a prefill plus presses would —
// append S0 prompt tokens, evict to S, prune keys to T channels keeping the last
// R full, optionally values to Tv, decode gen tokens — and checks
//
//	Bytes = Σ_layers Σ_heads [ keys (S−R)·rb(T) + (R+gen)·rb(D)  +  values (S−R)·rb(Tv) + (R+gen)·rb(D) ]
//
// where rb(w) is a row's bytes (rowBytesRef: 2w for f16, 4w for f32, 34 or
// 18 per started block of 32 for q8_0 and q4_0), for every type (values
// (S+gen)·rb(D) when not pruned), where gen = Reserve() at compression
// time = Capacity − prompt length, or the LimitReserve cap, and R = min(R, S).
// Values neither evicted nor pruned were never reallocated: they hold the rows
// appending grew them to, min(Capacity, 64·2^⌈log2(n/64)⌉) for n tokens.
// Decoding up to gen tokens must not change the rest. An empty cache holds
// nothing; FullBytes is 2·rb(D)·Capacity per head.
func TestBytesClosedForm(t *testing.T) {
	cases := []bytesCase{
		{kvcache.F16, 5, 4, 8, 450, 460, 128, 32, 4, 0, -1, 10},    // snapkv:budget=128+think:ratio=0.5
		{kvcache.F32, 5, 4, 8, 450, 450, 128, 32, 4, 0, -1, 0},     // no room to decode
		{kvcache.F16, 2, 2, 128, 300, 340, 300, 32, 77, 0, -1, 40}, // think only, no eviction
		{kvcache.F32, 2, 1, 64, 200, 400, 100, 16, 32, 40, -1, 7},  // keys and values
		{kvcache.F16, 3, 2, 8, 100, 200, 40, 50, 1, 0, 1, 1},       // R > S, LimitReserve(1) (h2o-like)
		{kvcache.F32, 1, 1, 8, 64, 80, 64, 0, 8, 0, -1, 16},        // R = 0, all channels "kept"
	}
	for ci, tc := range cases {
		for _, typ := range allTypes {
			tc.typ = typ
			tc.check(t, ci)
		}
	}
}

// bytesCase is a case of TestBytesClosedForm (its typ is replaced by every type).
type bytesCase struct {
	typ                      kvcache.DType
	layers, kvh, d           int
	prompt, capacity, s, r   int
	t, tv, limit, decodeRows int
}

func (tc bytesCase) check(t *testing.T, ci int) {
	rng := rand.New(rand.NewPCG(uint64(ci), 7))
	cfg := kvcache.Config{Layers: tc.layers, KVHeads: tc.kvh, HeadDim: tc.d, Type: tc.typ, Capacity: tc.capacity}
	c, err := kvcache.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rb := func(w int) int64 { return rowBytesRef(tc.typ, w) }
	full := int64(tc.layers*tc.kvh) * 2 * rb(tc.d) * int64(tc.capacity)
	if c.Bytes() != 0 || c.FullBytes() != full || kvcache.FullBytes(cfg) != full {
		t.Fatalf("case %d %v: empty cache Bytes %d FullBytes %d, want 0 and %d", ci, tc.typ, c.Bytes(), c.FullBytes(), full)
	}
	for l := range tc.layers {
		for g := range tc.kvh {
			for p := range tc.prompt {
				c.Head(l, g).Append(p, randVec(rng, tc.d), randVec(rng, tc.d))
			}
		}
	}
	c.Advance(tc.prompt)
	if tc.limit >= 0 {
		c.LimitReserve(tc.limit)
	}
	gen := c.Reserve()
	for l := range tc.layers {
		for g := range tc.kvh {
			h := c.Head(l, g)
			if tc.s < tc.prompt {
				if err := h.Keep(randSubset(rng, tc.prompt, tc.s), gen); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.PruneKeys(randSubset(rng, tc.d, tc.t), tc.r, gen); err != nil {
				t.Fatal(err)
			}
			if tc.tv > 0 {
				if err := h.PruneValues(randSubset(rng, tc.d, tc.tv), tc.r, gen); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	r := min(tc.r, tc.s)
	keys := int64(tc.s-r)*rb(tc.t) + int64(r+gen)*rb(tc.d)
	values := func(step int) int64 { return int64(tc.s+gen) * rb(tc.d) }
	switch {
	case tc.tv > 0:
		values = func(int) int64 { return int64(tc.s-r)*rb(tc.tv) + int64(r+gen)*rb(tc.d) }
	case tc.s == tc.prompt:
		values = func(step int) int64 { return int64(grown(tc.prompt+step, tc.capacity)) * rb(tc.d) }
	}
	if tc.s == tc.prompt && tc.limit < 0 && gen != tc.capacity-tc.prompt {
		t.Fatalf("case %d: Reserve %d, want Capacity−prompt %d", ci, gen, tc.capacity-tc.prompt)
	}
	for step := 0; step <= tc.decodeRows; step++ {
		want := int64(tc.layers*tc.kvh) * (keys + values(step))
		if got := c.Bytes(); got != want {
			t.Fatalf("case %d %v after %d decoded tokens: Bytes %d, want closed form %d", ci, tc.typ, step, got, want)
		}
		if step == tc.decodeRows || step == gen {
			break
		}
		for l := range tc.layers {
			for g := range tc.kvh {
				c.Head(l, g).Append(tc.prompt+step, randVec(rng, tc.d), randVec(rng, tc.d))
			}
		}
		c.Advance(1)
	}
}

// TestKeepEvictAlignment checks that Keep and Evict keep Pos and Score aligned
// (Score[i] stays the score of the token at Pos[i]), including the zero score
// of tokens appended after tracking started.
func TestKeepEvictAlignment(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: 8, Type: kvcache.F32, Capacity: 64})
	h := c.Head(0, 0)
	score := func(pos int32) float32 { return float32(pos)*0.25 + 1 }
	for p := range 40 {
		h.Append(p, randVec(rng, 8), randVec(rng, 8))
	}
	h.Score = make([]float32, h.Len())
	for i, p := range h.Pos {
		h.Score[i] = score(p)
	}
	verify := func(step string) {
		t.Helper()
		if len(h.Score) != h.Len() {
			t.Fatalf("%s: %d scores for %d tokens", step, len(h.Score), h.Len())
		}
		for i, p := range h.Pos {
			if want := score(p); p < 40 && h.Score[i] != want || p >= 40 && h.Score[i] != 0 {
				t.Fatalf("%s: Score[%d] = %v for position %d", step, i, h.Score[i], p)
			}
			if i > 0 && p <= h.Pos[i-1] {
				t.Fatalf("%s: positions out of order: %v", step, h.Pos)
			}
		}
	}
	if err := h.Keep([]int{0, 3, 4, 10, 11, 12, 20, 33, 39}, 4); err != nil {
		t.Fatal(err)
	}
	verify("keep")
	if err := h.PruneKeys([]int{1, 5}, 3, 4); err != nil {
		t.Fatal(err)
	}
	h.Evict(1)           // pruned segment
	h.Evict(h.Len() - 1) // full segment
	verify("evict")
	h.Append(40, randVec(rng, 8), randVec(rng, 8))
	h.Append(41, randVec(rng, 8), randVec(rng, 8))
	verify("append")
	if err := h.Keep([]int{0, 2, h.Len() - 2, h.Len() - 1}, 1); err != nil {
		t.Fatal(err)
	}
	verify("keep after prune")
	if want := []int32{0, 10, 40, 41}; !slices.Equal(h.Pos, want) {
		t.Fatalf("Pos %v, want %v", h.Pos, want)
	}
}

// TestErrors covers the rejected inputs.
func TestErrors(t *testing.T) {
	if _, err := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: 8}); err == nil {
		t.Error("New accepted a zero capacity")
	}
	c, _ := kvcache.New(kvcache.Config{Layers: 1, KVHeads: 1, HeadDim: 8, Capacity: 8})
	h := c.Head(0, 0)
	for p := range 5 {
		h.Append(p, make([]float32, 8), make([]float32, 8))
	}
	for _, idx := range [][]int{{1, 1}, {2, 1}, {-1}, {5}} {
		if err := h.Keep(idx, 0); err == nil {
			t.Errorf("Keep(%v) accepted", idx)
		}
	}
	for _, kept := range [][]int{{3, 2}, {1, 1}, {8}, {-1}} {
		if err := h.PruneKeys(kept, 1, 0); err == nil {
			t.Errorf("PruneKeys(%v) accepted", kept)
		}
	}
	for _, kept := range [][]int{nil, {}} { // T = 0 cannot be stored
		if err := h.PruneKeys(kept, 1, 0); err == nil {
			t.Errorf("PruneKeys(%v) accepted", kept)
		}
	}
	// Failed calls must leave the head unpruned and usable.
	if h.KeyKept != nil {
		t.Fatalf("failed PruneKeys left KeyKept = %v", h.KeyKept)
	}
	if err := h.PruneKeys([]int{2, 3}, 1, 0); err != nil {
		t.Fatalf("valid PruneKeys after failed ones: %v", err)
	}
	if nk, _ := h.Split(); nk != 4 {
		t.Fatalf("Split %d pruned keys, want 4", nk)
	}
	if err := h.PruneValues([]int{0, 7}, 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.PruneValues([]int{0, 7}, 1, 0); err == nil {
		t.Error("values pruned twice")
	}
	for s, want := range map[string]kvcache.DType{"f16": kvcache.F16, "F32": kvcache.F32, "q8_0": kvcache.Q8_0, "Q4_0": kvcache.Q4_0} {
		if got, err := kvcache.ParseDType(s); err != nil || got != want || !strings.EqualFold(got.String(), s) {
			t.Errorf("ParseDType(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"q8", "q4_1", ""} {
		if _, err := kvcache.ParseDType(s); err == nil || !strings.Contains(err.Error(), "f16, f32, q8_0, q4_0") {
			t.Errorf("ParseDType(%q): error %v, want one listing every type", s, err)
		}
	}
}
