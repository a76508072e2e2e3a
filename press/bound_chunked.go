package press

import "github.com/thinkv/thinkv/kvcache"

// MaxBytesChunked is MaxBytes for chunked compression (engine.PrefillChunked):
// an upper bound, in closed form, on Cache.Bytes() at any moment of a
// sequence whose prompt of prompt tokens is prefilled in chunks of chunk
// tokens, p compressing the cache after each, and which then decodes up to
// newTokens tokens. With chunk ≤ 0, chunk ≥ prompt (one chunk is the whole
// prompt, compressed as MaxBytes assumes) or no press it is MaxBytes; a
// press from outside this package gets its own MaxBytes.
//
// It follows the same layout model as MaxBytes, chunk by chunk, as the
// engine's chunker drives the cache:
//
//   - the first chunk of C tokens is allocated at once (Cache.Grow on the
//     empty cache: max(C, min(64, P+N)) rows per head);
//   - after a chunk ending at E < P, with R = min(C, P−E) tokens to come in
//     the next one, the reserve is capped at R (Cache.LimitReserve), the
//     press's parts reshape every head (with Cache.Headroom() =
//     min(P+N−E, max(E, 64)) reserved in the full segments by a
//     composition that evicts while decoding and prunes channels), and
//     every head's full segments get room for R more (Head.ReserveFull);
//     the next chunk then fills that room without reallocating;
//   - after the last chunk the press compresses with the reserve uncapped,
//     and decoding goes on as MaxBytes models it.
//
// Every part reshapes as its first Compress does (evictions keep their
// budget over every token cached; ThinK keeps its channels, and leaves each
// head as pruning it the first time would). One moment has no counterpart
// in a first Compress: ThinK run again first packs the tokens that have
// left its recent window (Head.Pack) into the pruned segment, which grows
// as a full one does (twice its rows, at least 64, never past what the
// head may hold) before the head is reallocated exactly. With a pruned
// rows allocated exactly, f ∈ [lo, hi] full rows (lo, hi the layer's
// fewest and most) and s spare, the head then holds g(a)·T + (f+s)·D bytes
// in that segment, g(a) = a when f ≤ recent, else max(n−recent,
// min(max(2a, 64), B)) with a = n−f; both terms are non-increasing (g) or
// increasing (f+s) in f, so g at lo and f+s at hi bound every head. One
// head of the layer is in that state at a time, the others before or
// after their turn (each at most the larger of the two), so the layer
// holds at most (KVHeads−1)·max(before, after) + that, which the bound
// records as its share per head (every head at once when the heads keep
// unequal widths, which the mean width does not bound one at a time).
//
// The layers' most are summed over the sequence's whole life, as MaxBytes
// sums them, so the bound holds at every moment; for an eviction press
// whose budget S is below the prompt, the most per head while prefilling
// is about S + C rows of keys and values (the budget plus a chunk),
// whatever the prompt's length.
func MaxBytesChunked(p Press, cfg kvcache.Config, prompt, newTokens, chunk int) int64 {
	return chunkedBound(p, cfg, prompt, newTokens, chunk, false)
}

// MaxBytesChunkedAfterCompress is MaxBytesChunked from the end of the last
// chunk's Compress on: an upper bound on Cache.Bytes() while the sequence
// decodes (a scheduler's reservation may shrink to it then, as to
// MaxBytesAfterCompress for a whole prompt).
func MaxBytesChunkedAfterCompress(p Press, cfg kvcache.Config, prompt, newTokens, chunk int) int64 {
	return chunkedBound(p, cfg, prompt, newTokens, chunk, true)
}

func chunkedBound(p Press, cfg kvcache.Config, prompt, newTokens, chunk int, afterCompress bool) int64 {
	pol, ok := p.(policy)
	if !ok || chunk <= 0 || chunk >= prompt {
		if afterCompress {
			return MaxBytesAfterCompress(p, cfg, prompt, newTokens)
		}
		return MaxBytes(p, cfg, prompt, newTokens)
	}
	if cfg.Layers <= 0 || cfg.KVHeads <= 0 || cfg.HeadDim <= 0 {
		return 0
	}
	newTokens = max(newTokens, 0)
	total := prompt + newTokens
	ls := newLayout(cfg, chunk, total-chunk)
	for end := chunk; ; {
		room := min(chunk, prompt-end)
		ls.prompt, ls.newTokens = end, room // Cache.Reserve() = min(Headroom, room)
		if end == prompt {
			ls.newTokens = newTokens // uncapped: Cache.Headroom()
		}
		ls.limited = false // the chunker's LimitReserve, before the press's own
		ls.compressAgain(pol, total-end)
		if end == prompt {
			break
		}
		ls.newTokens = room
		ls.reserveFull() // Head.ReserveFull(room): the headroom is room, as room ≤ end
		ls.appendChunk(room, total-end)
		end += room
	}
	return ls.finish(newTokens, afterCompress)
}

// compressAgain models a Compress of p on a cache that has processed
// ls.prompt tokens and may receive remaining more: each part's reshape,
// ThinK's packing of a layer it pruned before (repack) first, then the
// full segments' headroom a composition reserves (Cache.Headroom() is not
// capped by LimitReserve: min(remaining, max(processed, 64))).
func (ls *layout) compressAgain(p policy, remaining int) {
	parts, isComposed := p.(composed)
	if !isComposed {
		parts = composed{p}
	}
	for _, part := range parts {
		if t, ok := part.(*thinK); ok {
			ls.repack(t, remaining)
			continue
		}
		part.reshape(ls)
	}
	if isComposed && parts.reserveFull() {
		capped := ls.newTokens
		ls.newTokens = remaining
		ls.reserveFull()
		ls.newTokens = capped
	}
}

// repack applies ThinK's reshape t to ls, first recording, for every layer
// whose keys (ThinK-V: values) it pruned before, the most the layer holds
// while its heads are packed and reallocated one after the other (see
// MaxBytesChunked).
//
// For one head the bound takes, segment by segment, the most of its
// allocation before, while packing and after Keep: the pruned segment of
// this kind (rows, as above; Keep leaves n − min(f, recent) ≤ rows), this
// kind's full segment (hi + spare kept by the packing; min(hi, recent) +
// room after), and the other kind's pruned segment (reallocated exactly)
// and full one (o.hi + o.spare before, o.hi + room after, which the layout
// then holds), room being what thinK.room gives for the capped reserve.
// Keep replaces the segments one at a time, so any mix of them is within
// that sum.
func (ls *layout) repack(t *thinK, remaining int) {
	full := ls.full()
	type moment struct {
		before, packing, after int64
		room                   int
	}
	moments := make([]moment, len(ls.layers))
	for l := range ls.layers {
		s := &ls.layers[l]
		g, o := s.k, s.v
		if t.values {
			g, o = s.v, s.k
		}
		if g.row >= full { // not pruned yet: the first Compress
			continue
		}
		bound := s.n + remaining // Head.bound(): what the head may still hold
		rows := 0                // the most pruned rows a head's packing allocates
		if g.lo <= t.recent {
			rows = s.n - g.lo // nothing moves
		}
		if g.hi > t.recent {
			a := s.n - max(g.lo, t.recent+1)
			rows = max(rows, max(s.n-t.recent, min(max(2*a, growMin), bound)))
		}
		room := t.room(ls.reserve(), s.n)
		kept := min(g.hi, t.recent) + room
		other := int64(s.n-o.lo)*o.row + int64(o.hi+max(o.spare, room))*full
		moments[l] = moment{
			before:  g.bytes(s.n, full) + o.bytes(s.n, full),
			packing: int64(rows)*g.row + int64(max(g.hi+g.spare, kept))*full + other,
			after:   int64(s.n-min(g.lo, t.recent))*g.row + int64(kept)*full + other,
			room:    room,
		}
	}
	t.reshape(ls)
	h := int64(ls.cfg.KVHeads)
	for l, m := range moments {
		s := &ls.layers[l]
		if m.packing == 0 {
			continue
		}
		// Keep reallocates the other kind's full segment too, with the
		// same room.
		if t.values {
			s.k.spare = m.room
		} else {
			s.v.spare = m.room
		}
		if s.k.unequal || s.v.unequal {
			s.peak = max(s.peak, m.packing)
			continue
		}
		after := max(m.after, s.k.bytes(s.n, full)+s.v.bytes(s.n, full))
		s.peak = max(s.peak, ((h-1)*max(m.before, after)+m.packing+h-1)/h)
	}
}

// appendChunk models a prompt chunk of m tokens appended to every head of a
// cache that may receive remaining more, in the room the full segments have
// (the chunker reserved it; grown as Cache.Grow would if short).
func (ls *layout) appendChunk(m, remaining int) {
	for l := range ls.layers {
		s := &ls.layers[l]
		for _, g := range []*segment{&s.k, &s.v} {
			if g.spare < m {
				rows := growRows(g.hi+g.spare, g.hi+m, s.n+remaining-(s.n-g.hi))
				g.spare = rows - g.hi
			}
			g.lo, g.hi, g.spare = g.lo+m, g.hi+m, g.spare-m
		}
		s.n += m
		s.record(ls.full())
	}
}

// growRows is kvcache's growth rule: a segment of have rows that must hold
// need grows to twice its rows, at least growMin, at most bound, never
// fewer than need.
func growRows(have, need, bound int) int {
	return max(need, min(max(2*have, growMin), bound))
}
