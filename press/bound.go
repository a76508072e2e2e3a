package press

import "github.com/thinkv/thinkv/kvcache"

// MaxBytes returns an upper bound, in closed form, on the KV-cache bytes
// (Cache.Bytes) a sequence holds at any moment under press p (nil: the full
// cache) with a prompt of prompt tokens and up to newTokens generated ones,
// in a cache configured as cfg. cfg.Capacity is ignored: the sequence's
// limit is prompt + newTokens. The bound is the maximum over the sequence's
// life, which MaxBytes follows as the cache grows:
//
//   - prefill: the prompt is allocated at once (one Cache.Grow, as Forward
//     and a chunked prefill that reserves the prompt first do): R0 =
//     max(P, min(64, P+N)) full rows per head, TokenBytes·R0 in all. For
//     eviction presses this transient full cache usually dominates: a
//     budget below the prompt never holds as much again;
//   - Compress: each part of the press reallocates heads one after the
//     other (kept tokens, pruned segments, room reserved for decoding:
//     Cache.Reserve, Cache.LimitReserve, Head.ReserveFull);
//   - decoding, one token at a time: a full segment that runs out of room
//     doubles (at least 64 rows), never past the most rows the head may
//     still be asked to hold; a press that evicts while decoding keeps its
//     allocation, and eviction of pruned tokens makes the full segments
//     grow (the bound assumes the worst: pruned tokens go first).
//
// Heads of a layer have the same shape but for which tokens the scores
// keep; where that matters (a press that keeps tokens after one that
// prunes channels, evictions while decoding) the bound takes the worst
// case. The result is the larger of two sums over layers, times the KV
// heads: of the largest bytes one head of the layer holds through prefill
// and Compress, and of those it holds at the end of decoding (segments
// never shrink while decoding, so every layer holds its most then). A
// sequence reaches it exactly under the full cache, SnapKV, H2O,
// StreamingLLM, ThinK, ThinK-V and eviction followed by ThinK (and
// ThinK-V); PyramidKV's layers peak at different moments of Compress, so
// the sum of their peaks may exceed the most held at once by a few
// percent, and chains that prune keys and values
// under eviction, or prune before evicting, may be looser still (the bound
// lets every eviction take a pruned key and a pruned value, which one
// evicted token may not both have).
//
// MaxBytes is non-decreasing in newTokens (as tested for every press on a
// grid of prompts and new tokens), so it also bounds a sequence that stops
// early or whose cache limit is below prompt + newTokens. It bounds what
// Cache.Bytes reports, not the garbage a reallocation leaves to the
// collector, and not a forked cache's shared prefix counted in several caches.
func MaxBytes(p Press, cfg kvcache.Config, prompt, newTokens int) int64 {
	if p == nil {
		return boundOf(nil, cfg, prompt, newTokens)
	}
	return p.MaxBytes(cfg, prompt, newTokens)
}

// MaxBytesAfterCompress is MaxBytes from the end of Compress on: an upper
// bound on Cache.Bytes() once the press has compressed the prompt, while
// the sequence decodes. A scheduler reserves MaxBytes while a request
// prefills (its full cache is transient but real) and may shrink the
// reservation to this bound once the prompt is compressed, so that the
// bytes a press saves become room for more requests. With no press it is
// MaxBytes. A press from outside this package gets MaxBytes.
func MaxBytesAfterCompress(p Press, cfg kvcache.Config, prompt, newTokens int) int64 {
	if p == nil {
		return boundOf(nil, cfg, prompt, newTokens)
	}
	pol, ok := p.(policy)
	if !ok {
		return p.MaxBytes(cfg, prompt, newTokens)
	}
	return bound(pol, cfg, prompt, newTokens, true)
}

// boundOf is MaxBytes for a press of this package (nil: the full cache):
// the shape of a head of every layer through prefill, p's Compress and
// decoding, and the most bytes each held.
func boundOf(p policy, cfg kvcache.Config, prompt, newTokens int) int64 {
	return bound(p, cfg, prompt, newTokens, false)
}

// bound is boundOf, counting from the end of Compress on when afterCompress
// is set.
func bound(p policy, cfg kvcache.Config, prompt, newTokens int, afterCompress bool) int64 {
	if cfg.Layers <= 0 || cfg.KVHeads <= 0 || cfg.HeadDim <= 0 || prompt < 0 {
		return 0
	}
	ls := newLayout(cfg, prompt, max(newTokens, 0))
	if p != nil {
		p.reshape(ls)
	}
	return ls.finish(max(newTokens, 0), afterCompress)
}

// finish models decoding newTokens after Compress and returns the bound:
// the larger of the most the layers held up to the end of Compress (only
// from its end on when afterCompress) and what they hold at the end of
// decoding, summed over the layers, times the KV heads.
func (ls *layout) finish(newTokens int, afterCompress bool) int64 {
	if afterCompress {
		for l := range ls.layers {
			ls.layers[l].peak = 0
			ls.layers[l].record(ls.full())
		}
	}
	ls.newTokens = newTokens
	ls.decode()
	var compress, decode int64
	for i := range ls.layers {
		compress += ls.layers[i].peak
		decode += ls.layers[i].end
	}
	return max(compress, decode) * int64(ls.cfg.KVHeads)
}

// segment is the shape of a head's keys (or values): rows held in a pruned
// segment of fewer channels, and full rows after them. Shapes count bytes,
// a row's as the cache type stores it (kvcache.DType.RowBytes), so that a
// blocked type's padding to whole blocks is counted as the cache counts it.
type segment struct {
	// lo and hi bound the full rows held: heads of a layer differ when a
	// press keeps tokens by score after another pruned channels.
	lo, hi int
	// spare is the full rows allocated beyond those held, the same for
	// every head of the layer.
	spare int
	// row is the bytes of a pruned row (of a full row while the segment is
	// not pruned, when no row is pruned): with adaptive budgets, the mean
	// over the layer's heads (see unequalWidths).
	row int64
	// unequal is set when the layer's heads keep different channels in
	// their pruned rows (adaptive ThinK).
	unequal bool
	// pack > 0 says that decoding packs the segment (see packs).
	packing
}

// bytes returns the most bytes a head with n tokens holds in s, full the
// bytes of a full row: pruned rows are narrower, so the most full rows is
// the worst.
func (s segment) bytes(n int, full int64) int64 {
	return int64(n-s.hi)*s.row + int64(s.hi+s.spare)*full
}

// layerShape is the shape of every head of one layer.
type layerShape struct {
	n    int // tokens each head holds
	k, v segment
	peak int64 // the most bytes one head has held so far, before decoding
	end  int64 // the most bytes one head holds while decoding: at the end
}

// record updates the peak with the shape's bytes, full those of a full row.
func (s *layerShape) record(full int64) {
	s.peak = max(s.peak, s.k.bytes(s.n, full)+s.v.bytes(s.n, full))
}

// layout models a sequence's cache, layer by layer, for MaxBytes.
type layout struct {
	cfg               kvcache.Config
	prompt, newTokens int
	limited           bool // a press called Cache.LimitReserve(1)
	// evictAt is the most tokens a head keeps after each decoded token, the
	// smallest budget of the presses that evict while decoding; evicts
	// says whether any does.
	evictAt int
	evicts  bool
	layers  []layerShape
	// pinned is how many of a head's first tokens no press that evicts
	// while decoding ever evicts (StreamingLLM's sinks; H2O's: none).
	pinned int
}

// newLayout returns the layout right after prefill: every head holds the
// prompt in max(P, min(64, P+N)) full rows (Cache.Grow(P) on an empty cache).
func newLayout(cfg kvcache.Config, prompt, newTokens int) *layout {
	ls := &layout{cfg: cfg, prompt: prompt, newTokens: newTokens, layers: make([]layerShape, cfg.Layers)}
	r0 := max(prompt, min(growMin, prompt+newTokens))
	full := segment{lo: prompt, hi: prompt, spare: r0 - prompt, row: ls.full()}
	for l := range ls.layers {
		ls.layers[l] = layerShape{n: prompt, k: full, v: full}
		ls.layers[l].record(ls.full())
	}
	return ls
}

// full returns the bytes of a full row, a key or a value of HeadDim channels.
func (ls *layout) full() int64 { return ls.cfg.Type.RowBytes(ls.cfg.HeadDim) }

// growMin is the fewest rows a cache segment grows to.
const growMin = kvcache.GrowMin

// headroom is Cache.Headroom() after prefill: every token to come, but no
// more than the prompt (at least 64).
func (ls *layout) headroom() int { return min(ls.newTokens, max(ls.prompt, growMin)) }

// reserve is Cache.Reserve() after prefill: the headroom, at most 1 once
// a press has called LimitReserve(1).
func (ls *layout) reserve() int {
	if ls.limited {
		return min(ls.headroom(), 1)
	}
	return ls.headroom()
}

// limitReserve models Cache.LimitReserve(1) by a press that evicts as it
// decodes, keeping budget tokens per head.
func (ls *layout) limitReserve(budget int) {
	ls.limited = true
	if !ls.evicts || budget < ls.evictAt {
		ls.evictAt = budget
	}
	ls.evicts = true
}

// keep models Head.Keep of k tokens, with room for extra more, on every head
// of layer l (holding more than k). Which tokens survive depends on scores:
// at most min(hi, k) of them are full rows, at least k less the pruned rows.
func (ls *layout) keep(l, k, extra int) {
	s := &ls.layers[l]
	before := *s
	for _, g := range []*segment{&s.k, &s.v} {
		g.lo, g.hi = max(0, k-(s.n-g.lo)), min(g.hi, k)
		g.spare = extra
	}
	s.n = k
	s.recordMixed(before, ls.full())
	s.record(ls.full())
}

// prune models Head.PruneKeys (values: PruneValues) on every head of layer
// l: all tokens but the last recent keep d−pruned channels, and the full
// segment is reallocated with room for extra more.
func (ls *layout) prune(l int, values bool, pruned, recent, extra int) {
	s := &ls.layers[l]
	g := &s.k
	if values {
		g = &s.v
	}
	g.lo, g.hi = min(s.n, recent), min(s.n, recent)
	g.row, g.spare = ls.cfg.Type.RowBytes(ls.cfg.HeadDim-pruned), extra
	s.record(ls.full())
}

// reserveFull models Head.ReserveFull(Cache.Headroom()) on every head.
func (ls *layout) reserveFull() {
	h := ls.headroom()
	for l := range ls.layers {
		s := &ls.layers[l]
		s.k.spare, s.v.spare = max(s.k.spare, h), max(s.v.spare, h)
		s.record(ls.full())
	}
}

// decode records the most every layer's heads hold while N tokens are
// decoded one at a time (in end) (Grow(1), append, the press's Step). Segments never
// shrink while decoding, so the most is reached at the end: a full segment
// starting with c rows and needing at most r rows ends with c rows if r ≤ c,
// else with at most min(b, c doubled (at least 64) until it holds r), where
// b, the rows the segment may still be asked to hold at the first step,
// caps every growth and never increases.
func (ls *layout) decode() {
	n := ls.newTokens
	if n == 0 {
		return
	}
	d := ls.full()
	for l := range ls.layers {
		s := &ls.layers[l]
		var e int64
		for _, g := range []segment{s.k, s.v} {
			e += g.decoded(s.n, n, d, ls.evicts, ls.evictAt)
		}
		s.end = e
	}
}

// decoded returns the most bytes the segment g of a head holding n0 tokens
// holds after decoding n tokens, with eviction down to evictAt tokens after
// each one if evicts; d is the bytes of a full row.
func (g segment) decoded(n0, n int, d int64, evicts bool, evictAt int) int64 {
	if g.pack > 0 {
		return g.packedDecoded(n0, n, d, evicts, evictAt)
	}
	pruned := func(full int) int64 { return int64(n0-full) * g.row }
	if !evicts {
		// Every decoded token is a full row: a head with k full rows needs
		// k+n and may hold no more, so growth ends there.
		return pruned(g.hi) + int64(g.hi+max(g.spare, n))*d
	}
	// Tokens held before the last decoded token is appended, and evictions
	// before it, each of which may take a pruned row (freeing no full row).
	last, ev := min(n0+n-1, evictAt), max(0, n-1-(evictAt-n0))
	need := func(full int) int { return last + 1 - max(0, n0-full-ev) }
	before := pruned(g.hi) + int64(g.hi+g.spare)*d
	// need(k)−k does not increase with k: if the head with the fewest full
	// rows does not grow, none does.
	if need(g.lo) <= g.lo+g.spare {
		return before
	}
	grown := min(g.hi+n, doubledMax(g.lo+g.spare, g.hi+g.spare, need(g.hi)))
	return max(before, pruned(g.lo)+int64(max(grown, g.hi+g.spare))*d)
}

// doubled returns the rows a segment of c rows reaches when it grows by
// doubling (at least 64 rows) until it holds need.
func doubled(c, need int) int {
	for c < need {
		c = max(2*c, growMin)
	}
	return c
}

// doubledMax returns the most doubled(c, need) over c in [a, b]. Segments
// of fewer than 32 rows all jump to 64; above, doubled(c, need) = c·2^j
// where j is the doublings c needs, which increases with c for a given j:
// the most is at b, at a, or at the largest c in [a, b] needing j doublings,
// for each j.
func doubledMax(a, b, need int) int {
	best := max(doubled(a, need), doubled(b, need))
	for j := 1; ; j++ {
		// The largest c with c·2^(j−1) < need needs j doublings.
		top := (need+(1<<(j-1))-1)>>(j-1) - 1
		if top < a || top < 1 {
			return best
		}
		if c := min(top, b); c >= a {
			best = max(best, doubled(c, need))
		}
	}
}

// Heads of unequal widths (adaptive ThinK: think:…,adaptive=1).
//
// A layer's heads may keep different channels in their pruned rows, as long
// as their pruned rows take KVHeads·w bytes in all, w those of a pruned row
// under uniform ThinK (the same channels in all for f16 and f32; for the
// blocked types, the same blocks in all: see thinK.allot). The bound stays
// sound and as tight: in every state the most a head holds is affine in its
// pruned row's bytes w, (rows)·w + (full bytes), with the same coefficients
// for every head of the layer (they count rows, which do not depend on
// widths), so the most the layer holds is KVHeads times that of a head of
// the mean width. Two kinds of
// moment need more care, where heads are reshaped one after the other and
// some are in the state before while others are in the state after:
//
//   - pruning the unequal channels themselves: thinK.Compress prunes the
//     heads keeping the fewest channels first, so the change each makes
//     grows from head to head, and the layer's bytes peak at an end
//     (pruneOrder);
//   - keeping tokens (eviction after adaptive ThinK): the change a head
//     makes may then shrink for wide heads and grow for narrow ones, so a
//     half-done layer can hold more than before and after. recordMixed
//     bounds it: Σ_h max(a·w_h + b, a'·w_h + b') ≤ max(a, a')·Σ_h w_h +
//     KVHeads·max(b, b').
//
// Reserving room in the full segments (ReserveFull) changes every head by
// the same amount, and decoding only grows segments, so nothing else needs it.

// unequalWidths marks segment keys (values) of layer l as pruned to widths
// that differ between heads, with mean width.
func (ls *layout) unequalWidths(l int, values bool) {
	if values {
		ls.layers[l].v.unequal = true
	} else {
		ls.layers[l].k.unequal = true
	}
}

// recordMixed records the most a layer whose heads go one by one from shape
// before to s may hold in between, when its heads' widths differ (with
// equal widths the larger of the two shapes bounds it already).
func (s *layerShape) recordMixed(before layerShape, d int64) {
	if !s.k.unequal && !s.v.unequal {
		return
	}
	var e int64
	for _, g := range [][2]segment{{before.k, s.k}, {before.v, s.v}} {
		a, b := g[0], g[1]
		rows := max(before.n-a.hi, s.n-b.hi)
		full := max(int64(a.hi+a.spare), int64(b.hi+b.spare)) * d
		e += int64(rows)*a.row + full
	}
	s.peak = max(s.peak, e)
}
