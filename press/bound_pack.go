package press

import "math"

// packing is how ThinK's Step packs a segment while decoding (see
// thinK.Step): once a head holds recent + pack full rows, all but the last
// recent move to the pruned segment. pack 0: never.
type packing struct {
	recent, pack int
	// at is the most tokens a head holds when it packs: the smallest
	// budget of the presses that evict, in each step, before the packing
	// one (math.MaxInt: none does).
	at int
	// pinned is the first tokens no eviction while decoding takes
	// (layout.pinned), kept up to date by evictReshape.
	pinned int
}

// packs models ThinK's packing of decoded tokens in the keys (values) of
// every head of layer l, after prune.
func (ls *layout) packs(l int, values bool, recent, pack int) {
	g := &ls.layers[l].k
	if values {
		g = &ls.layers[l].v
	}
	g.packing = packing{recent: recent, pack: pack, at: math.MaxInt, pinned: math.MaxInt}
	if ls.evicts {
		g.at, g.pinned = ls.evictAt, ls.pinned
	}
}

// pin records, for the packed segments, that a press evicting while
// decoding never evicts the first pinned tokens of a head.
func (ls *layout) pin(pinned int) {
	for l := range ls.layers {
		for _, g := range []*segment{&ls.layers[l].k, &ls.layers[l].v} {
			g.pinned = min(g.pinned, pinned)
		}
	}
}

// maxShapes is the most head shapes (full rows held, from lo to hi)
// packedDecoded follows one by one; past it, it bounds them together.
const maxShapes = 256

// packedDecoded is decoded for a segment that decoding packs. Without
// eviction it follows each head shape exactly: the full segment grows, if
// at all, before the first packing, and the pruned segment grows by
// doubling (Head.Pack) as packings outgrow it. Under eviction it bounds the
// full rows as decoded does, never past recent + pack, and the pruned rows
// by the most a packing can leave, doubled.
//
// A packing needs recent + pack full rows besides the pruned rows no
// eviction takes: the head's first pinned tokens, pruned rows when the head
// has at least that many.
func (g segment) packedDecoded(n0, n int, d int64, evicts bool, evictAt int) int64 {
	if evicts || g.hi-g.lo > maxShapes {
		return g.packedBound(n0, n, d, evicts, evictAt)
	}
	// With heads of unequal widths (adaptive ThinK) the layer's sum is
	// bounded by the most pruned rows at the mean width plus the most
	// full rows, each over the head shapes.
	var most int64
	pruned, full := 0, 0
	for f := g.lo; f <= g.hi; f++ {
		p, fr := g.packedHead(n0, f, n)
		most = max(most, int64(p)*g.row+int64(fr)*d)
		pruned, full = max(pruned, p), max(full, fr)
	}
	if g.unequal {
		return int64(pruned)*g.row + int64(full)*d
	}
	return most
}

// packedHead returns the pruned and the full rows the segment of a head
// holding n0 tokens, f0 of them full rows (with room for spare more) and
// the rest pruned rows allocated exactly, holds after n tokens are decoded,
// with no eviction. Segments never shrink, so that is the most it holds.
// The head may hold n0 + n tokens, which caps every growth.
func (g segment) packedHead(n0, f0, n int) (pruned, full int) {
	r, k := g.recent, g.pack
	full, pruned = f0+g.spare, n0-f0
	first := max(1, r+k-f0) // the decoded token after which the first packing comes
	if n < first {
		return pruned, f0 + max(g.spare, n)
	}
	// The full rows peak before the first packing; growth may not pass
	// f0 + n, the most full rows the head could be asked to hold.
	if most := f0 + first; most > full {
		full = min(doubled(full, most), f0+n)
	}
	// Packing j leaves rows[j] = n0 + first − r + (j−1)·k pruned rows.
	packings, bound := 1+(n-first)/k, n0+n
	rows := func(j int) int { return n0 + first - r + (j-1)*k }
	for {
		j := 1 // the first packing that outgrows the pruned segment
		if rows(1) <= pruned {
			j = (pruned-rows(1))/k + 2
		}
		if j > packings {
			break
		}
		pruned = max(rows(j), min(max(2*pruned, growMin), bound))
	}
	return pruned, full
}

// packedBound bounds the segment after n decoded tokens for all head shapes
// at once, under eviction down to evictAt tokens after each decoded one if
// evicts. The full rows are those decoded bounds, as a head never holds
// more than recent + pack of them. The pruned rows start at most n0 − lo
// and grow only when a packing leaves more than a head allocated: a packing
// leaves at most the tokens held then (at most n0 + n, g.at, and evictAt+1,
// evictions coming after the append) less recent, and a pruned segment
// outgrown by rows ends at most max(rows, twice rows−1 (at least 64)),
// within the n0 + n tokens the head may be asked to hold.
func (g segment) packedBound(n0, n int, d int64, evicts bool, evictAt int) int64 {
	held := min(n0+n, g.at)
	last, ev := n0+n-1, 0
	if evicts {
		held = min(held, evictAt+1)
		last, ev = min(n0+n-1, evictAt), max(0, n-1-(evictAt-n0))
	}
	need := func(full int) int { return min(last+1-max(0, n0-full-ev), g.recent+g.pack) }
	full := g.hi + g.spare
	if need(g.lo) > g.lo+g.spare {
		full = max(full, min(g.hi+n, doubledMax(g.lo+g.spare, g.hi+g.spare, need(g.hi))))
	}
	pinned := 0
	if evicts {
		pinned = min(g.pinned, n0-g.hi)
	}
	pruned := n0 - g.lo
	if rows := held - g.recent; held >= pinned+g.recent+g.pack && rows > n0-g.hi {
		pruned = max(pruned, prunedGrowth(n0-g.hi, n0-g.lo, rows, g.pack, n0+n))
	}
	return int64(pruned)*g.row + int64(full)*d
}

// prunedGrowth bounds the rows of a pruned segment of a rows in [lo, hi]
// (allocated exactly) once packings of k rows each have made it hold at most
// rows, every growth capped at bound (the most tokens the head holds). A
// packing outgrowing c rows leaves q ≤ c+k of them, and the segment grows
// to max(q, min(max(2c, 64), bound)). When the doubling is always at least
// c+k (k ≤ 32, or k ≤ lo), growth is doubling alone, as a segment that
// doubles until it holds rows. Otherwise the last growth came from fewer
// than rows: at most max(rows, twice rows−1 (at least 64)).
func prunedGrowth(lo, hi, rows, k, bound int) int {
	if k <= 32 || k <= lo {
		return min(doubledMax(lo, hi, rows), max(bound, hi))
	}
	return max(rows, min(max(2*(rows-1), growMin), bound))
}
