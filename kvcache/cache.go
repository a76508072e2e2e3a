// Package kvcache owns the key/value cache of one sequence: per layer and per
// KV head (never repeated per query head), the original positions of the kept
// tokens, keys split into a channel-pruned packed segment and a full segment,
// values likewise, stored as f32, f16, or GGUF's q8_0 or q4_0 blocks (one
// codec per type), and attention over that layout.
//
// Compression policies (package press) reshape a Cache after prefill through
// Head.Keep, Head.PruneKeys and Head.PruneValues; the model only appends and attends.
package kvcache

import (
	"fmt"
	"strings"
	"sync"
)

// DType is the element type keys and values are stored in.
type DType int

// Storage types: IEEE half and single floats, and GGUF's 32-value blocks
// with an f16 scale and 8-bit (q8_0: 34 bytes a block) or 4-bit (q4_0: 18
// bytes) quants.
const (
	F16 DType = iota
	F32
	Q8_0
	Q4_0
)

// codecs holds each type's codec, indexed by DType.
var codecs = [...]codec{F16: f16Codec{}, F32: f32Codec{}, Q8_0: q8_0Codec, Q4_0: q4_0Codec}

// names holds each type's name, indexed by DType.
var names = [...]string{F16: "f16", F32: "f32", Q8_0: "q8_0", Q4_0: "q4_0"}

// blocks holds each type's values per block, indexed by DType.
var blocks = [...]int{F16: 1, F32: 1, Q8_0: 32, Q4_0: 32}

// Block returns the values a row of this type is stored in blocks of: 32
// for q8_0 and q4_0 (a row of w channels takes ⌈w/32⌉ blocks, so channels
// pruned from a partial block save nothing), 1 for f16 and f32.
func (t DType) Block() int { return blocks[t] }

// valid reports whether t is one of the storage types.
func (t DType) valid() bool { return t >= 0 && int(t) < len(codecs) }

func (t DType) codec() codec { return codecs[t] }

// RowBytes returns the bytes one stored row (a key or a value) of width
// channels takes in this type: 2·width for f16, 4·width for f32,
// 34·⌈width/32⌉ for q8_0 and 18·⌈width/32⌉ for q4_0 (a row is padded with
// zeros to whole blocks).
func (t DType) RowBytes(width int) int64 { return int64(t.codec().rowBytes(width)) }

// Size returns the bytes of one element of f16 or f32, and 0 for the
// blocked types, whose rows' bytes only RowBytes gives.
func (t DType) Size() int64 {
	switch t {
	case F16:
		return 2
	case F32:
		return 4
	}
	return 0
}

func (t DType) String() string {
	if t.valid() {
		return names[t]
	}
	return fmt.Sprintf("DType(%d)", int(t))
}

// ParseDType parses a storage type's name: f16, f32, q8_0 or q4_0.
func ParseDType(s string) (DType, error) {
	for t, name := range names {
		if strings.EqualFold(s, name) {
			return DType(t), nil
		}
	}
	return 0, fmt.Errorf("unknown KV type %q (valid: %s)", s, strings.Join(names[:], ", "))
}

// Config sizes a Cache.
type Config struct {
	Layers, KVHeads, HeadDim int
	Type                     DType
	// Capacity is the most tokens the sequence may hold (prompt plus
	// generation): a limit, not an allocation. Storage grows as tokens arrive
	// (see Head.Append), so a cache allowed a billion tokens that holds ten
	// allocates for about ten.
	Capacity int
}

// TokenBytes returns the bytes one token takes in an uncompressed cache with
// this configuration: a key and a value of HeadDim channels for every layer
// and KV head, Layers·KVHeads·2·Type.RowBytes(HeadDim).
func (cfg Config) TokenBytes() int64 {
	return int64(cfg.Layers) * int64(cfg.KVHeads) * 2 * cfg.Type.RowBytes(cfg.HeadDim)
}

// Cache is the KV cache of one sequence.
type Cache struct {
	cfg     Config
	heads   []Head // layer-major
	next    int
	reserve int        // rows per head kept free for decoding; < 0: Remaining()
	freeze  sync.Mutex // held while Freeze changes the rows' layout
}

// New makes an empty cache.
func New(cfg Config) (*Cache, error) {
	if cfg.Layers <= 0 || cfg.KVHeads <= 0 || cfg.HeadDim <= 0 || cfg.Capacity <= 0 || !cfg.Type.valid() {
		return nil, fmt.Errorf("kvcache: bad config %+v", cfg)
	}
	c := &Cache{cfg: cfg, heads: make([]Head, cfg.Layers*cfg.KVHeads), reserve: -1}
	for i := range c.heads {
		c.heads[i] = newHead(c, cfg.Type, cfg.HeadDim)
	}
	return c, nil
}

// Grow makes room in every head for n more tokens, so that appending them
// does not reallocate: each segment too small grows to twice its rows (at
// least 64, at most what the head can still be asked to hold, never fewer
// than it needs). On an empty cache Grow(prompt length) allocates exactly the
// prompt (or 64 rows, whichever is more, within Capacity). It fails, changing
// nothing, if n more tokens would pass Capacity.
func (c *Cache) Grow(n int) error {
	if n < 0 || n > c.Remaining() {
		return fmt.Errorf("kvcache: %d more tokens at position %d exceed the cache's limit of %d tokens", n, c.next, c.cfg.Capacity)
	}
	for i := range c.heads {
		h := &c.heads[i]
		h.ensure(h.Len() + n)
	}
	return nil
}

// Config returns the cache's configuration.
func (c *Cache) Config() Config { return c.cfg }

// Head returns the cache of KV head kv in layer l.
func (c *Cache) Head(l, kv int) *Head { return &c.heads[l*c.cfg.KVHeads+kv] }

// Next returns the position the next token will take: tokens processed so far.
// It keeps counting from the original prompt length whatever was evicted.
func (c *Cache) Next() int { return c.next }

// Advance records that n more tokens were processed (appended to every head).
func (c *Cache) Advance(n int) { c.next += n }

// Remaining returns how many more tokens the cache has room for.
func (c *Cache) Remaining() int { return c.cfg.Capacity - c.next }

// Reserve returns how many token rows each head should keep free when it is
// reallocated (by a press): room for every token still to come, but no more
// than the tokens processed so far (at least 64) — the free room an
// uncompressed cache gets at its next doubling, so a large Capacity is not
// allocated by compression either — and no more than a LimitReserve cap.
// Heads grow past it by doubling if more tokens come.
func (c *Cache) Reserve() int {
	r := c.Headroom()
	if c.reserve >= 0 {
		r = min(r, c.reserve)
	}
	return r
}

// Headroom returns the room for tokens to come that a head reallocated now
// should have, before any LimitReserve cap: every token still to come, but no
// more than the tokens processed so far (at least 64).
func (c *Cache) Headroom() int { return min(max(c.Remaining(), 0), max(c.next, GrowMin)) }

// LimitReserve caps Reserve at n: for policies that evict a token for each one
// decoded, so their heads never grow by more than n.
func (c *Cache) LimitReserve(n int) { c.reserve = n }

// Bytes returns the bytes allocated for all keys and values, exactly: with
// storage grown as tokens arrive, an uncompressed cache that has processed
// n ≥ 1 tokens one at a time holds TokenBytes()·min(Capacity, 64·2^⌈log2(n/64)⌉)
// (64 rows up to 64 tokens), and one prefilled with Grow(P) first holds
// TokenBytes()·min(Capacity, max(P, 64)) until the next token doubles it.
func (c *Cache) Bytes() int64 {
	var b int64
	for i := range c.heads {
		b += c.heads[i].Bytes()
	}
	return b
}

// HeldBytes returns the bytes of the keys and values stored now, leaving out
// room reserved for tokens to come: what a cache sized for exactly this
// content would allocate.
func (c *Cache) HeldBytes() int64 {
	var b int64
	for i := range c.heads {
		b += c.heads[i].HeldBytes()
	}
	return b
}

// FullBytes returns what an uncompressed cache of the same type allocates
// when it holds Capacity tokens.
func (c *Cache) FullBytes() int64 {
	return FullBytes(c.cfg)
}

// FullBytes returns the bytes an uncompressed cache with configuration cfg
// allocates when it holds cfg.Capacity tokens: cfg.TokenBytes()·Capacity.
func FullBytes(cfg Config) int64 {
	return cfg.TokenBytes() * int64(cfg.Capacity)
}

// Observation is what prefill gathers for compression policies besides the
// cache. A prompt may be prefilled in several chunks (calls of the forward
// pass, in order, from position 0): the observation then accumulates over all
// of them, and is complete, ready for a press's Compress, when Done == Prompt.
type Observation struct {
	// Window is how many trailing prompt queries were asked for.
	Window int
	// Prompt is the prompt's length in tokens, to be set before its first
	// chunk when the prompt is prefilled in several; 0 means that the first
	// call's tokens are the whole prompt, and the forward pass sets it so.
	Prompt int
	// Done is how many prompt tokens have been observed so far; the forward
	// pass maintains it (0 when a prompt starts at position 0).
	Done int
	// Queries holds, per layer, the post-RoPE queries of the last min(Window, Prompt)
	// positions: [positions][heads*headDim].
	Queries [][]float32
	// WantColSums asks prefill to fill ColSums.
	WantColSums bool
	// ColSums holds per layer the attention each prompt token received, summed
	// over every prompt query in the order of the queries' positions (so the
	// same whatever the chunks): [heads][Prompt].
	ColSums [][]float32
}
