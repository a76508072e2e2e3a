package kvcache

import "fmt"

// Head is the cache of one KV head of one layer of one sequence.
//
// Tokens are kept in order of their original positions. Keys live in two
// segments: a pruned segment holding the first tokens packed to the channels in
// KeyKept, and a full segment holding the rest with all D channels. Values are
// split the same way (by ValKept), at their own split point.
type Head struct {
	d       int
	Pos     []int32   // original position of each cached token
	KeyKept []int     // sorted key channels stored for pruned-segment tokens (nil: none pruned)
	ValKept []int     // sorted value channels stored for pruned-segment tokens (nil: none pruned)
	Score   []float32 // accumulated attention per token, for H2O-style presses (nil: not tracked)
	kp, kf  rows
	vp, vf  rows
	c       *Cache // the cache the head belongs to, for its token limit
}

// GrowMin is the fewest rows a segment grows to when tokens arrive (press
// bounds bytes with the same rule).
const GrowMin = 64

// growRows returns the rows a block of have rows grows to when it must hold
// need: twice as many, at least GrowMin, but no more than bound, the most it
// can ever be asked to hold (and never fewer than need).
func growRows(have, need, bound int) int {
	return max(need, min(max(2*have, GrowMin), bound))
}

func newHead(c *Cache, typ DType, d int) Head {
	return Head{
		d:  d,
		kf: newRows(typ, d, 0),
		vf: newRows(typ, d, 0),
		kp: newRows(typ, 0, 0),
		vp: newRows(typ, 0, 0),
		c:  c,
	}
}

// bound returns the most tokens the head can ever hold: those it holds plus
// those the cache may still receive, at most the cache's Capacity.
func (h *Head) bound() int {
	if h.c == nil {
		return h.Len()
	}
	return min(h.c.cfg.Capacity, h.Len()+max(h.c.Remaining(), 0))
}

// ensure makes room for the head to hold need tokens, growing by growRows
// whatever is too small: the full key and value segments, Pos and Score.
func (h *Head) ensure(need int) {
	bound := h.bound()
	for _, seg := range [2][2]*rows{{&h.kp, &h.kf}, {&h.vp, &h.vf}} {
		p, f := seg[0], seg[1]
		// A fork's shared prefix (f.sn rows) is not part of the growth:
		// its own tail doubles as a new cache's segment would.
		if rowsNeed := need - p.n(); f.capRows() < rowsNeed {
			f.growTo(f.sn + growRows(f.capRows()-f.sn, rowsNeed-f.sn, bound-p.n()-f.sn))
		}
	}
	if cap(h.Pos) < need {
		h.Pos = append(make([]int32, 0, growRows(cap(h.Pos), need, bound)), h.Pos...)
	}
	if h.Score != nil && cap(h.Score) < need {
		h.Score = append(make([]float32, 0, growRows(cap(h.Score), need, bound)), h.Score...)
	}
}

// Len returns the number of cached tokens.
func (h *Head) Len() int { return len(h.Pos) }

// Split returns how many leading tokens have pruned keys and pruned values.
func (h *Head) Split() (keys, values int) { return h.kp.n(), h.vp.n() }

// Bytes returns the bytes allocated for this head's keys and values.
func (h *Head) Bytes() int64 { return h.kp.bytes() + h.kf.bytes() + h.vp.bytes() + h.vf.bytes() }

// HeldBytes returns the bytes of the keys and values stored, leaving out
// room reserved for tokens to come.
func (h *Head) HeldBytes() int64 {
	return h.kp.heldBytes() + h.kf.heldBytes() + h.vp.heldBytes() + h.vf.heldBytes()
}

// Append adds a token at original position pos with key k and value v (D
// channels each). Storage grows as tokens arrive: when a segment is full it
// is reallocated to twice its rows (at least 64), but never past the most
// tokens the head can still be asked to hold (Cache.Config().Capacity, less
// what the cache has already processed beyond the head's own tokens), so
// appends are amortised constant time and a cache holds about what it uses.
// Cache.Grow makes room for several tokens at once (as Forward does), and
// refuses to go past the limit; Append itself does not check it.
func (h *Head) Append(pos int, k, v []float32) {
	h.ensure(h.Len() + 1)
	h.Pos = append(h.Pos, int32(pos))
	h.kf.push(k)
	h.vf.push(v)
	if h.Score != nil {
		h.Score = append(h.Score, 0)
	}
}

// Key writes the key of token i, zero-filled in pruned channels, into dst[:D].
func (h *Head) Key(dst []float32, i int) {
	readSplit(dst[:h.d], i, &h.kp, &h.kf, h.KeyKept)
}

// Value writes the value of token i, zero-filled in pruned channels, into dst[:D].
func (h *Head) Value(dst []float32, i int) {
	readSplit(dst[:h.d], i, &h.vp, &h.vf, h.ValKept)
}

// readSplit writes token i of the segments p (pruned to channels kept) and
// f into dst (D values), zero-filled in the pruned channels.
func readSplit(dst []float32, i int, p, f *rows, kept []int) {
	if np := p.n(); i >= np {
		f.read(dst, i-np)
		return
	}
	// Decode the kept channels into dst's front, then spread them out from
	// the back: kept[j] ≥ j, so each value moves up into a slot already read.
	p.read(dst, i)
	j := len(kept) - 1
	for c := len(dst) - 1; c >= 0; c-- {
		if j >= 0 && kept[j] == c {
			dst[c] = dst[j]
			j--
		} else {
			dst[c] = 0
		}
	}
}

// Keep retains the tokens at the sorted indices idx and drops the rest,
// reallocating storage to fit exactly, plus room for extra tokens to come.
func (h *Head) Keep(idx []int, extra int) error {
	for j, i := range idx {
		if i < 0 || i >= h.Len() || (j > 0 && i <= idx[j-1]) {
			return fmt.Errorf("kvcache: keep indices must be sorted, unique and in [0,%d)", h.Len())
		}
	}
	split := func(p, f *rows) {
		np := p.n()
		var ip, ifull []int
		for _, i := range idx {
			if i < np {
				ip = append(ip, i)
			} else {
				ifull = append(ifull, i-np)
			}
		}
		*p = p.gather(ip, nil, 0)
		*f = f.gather(ifull, nil, extra)
	}
	split(&h.kp, &h.kf)
	split(&h.vp, &h.vf)
	pos := make([]int32, len(idx), len(idx)+extra)
	for j, i := range idx {
		pos[j] = h.Pos[i]
	}
	h.Pos = pos
	if h.Score != nil {
		score := make([]float32, len(idx), len(idx)+extra)
		for j, i := range idx {
			score[j] = h.Score[i]
		}
		h.Score = score
	}
	return nil
}

// ReserveFull makes room in the full segments for extra more tokens, so that
// appending them never reallocates (evicting pruned tokens frees no room there).
func (h *Head) ReserveFull(extra int) {
	h.kf.reserve(extra)
	h.vf.reserve(extra)
	if cap(h.Pos)-len(h.Pos) < extra {
		h.Pos = append(make([]int32, 0, len(h.Pos)+extra), h.Pos...)
	}
	if h.Score != nil && cap(h.Score)-len(h.Score) < extra {
		h.Score = append(make([]float32, 0, len(h.Score)+extra), h.Score...)
	}
}

// Evict removes token i in place, keeping the allocation.
func (h *Head) Evict(i int) {
	remove := func(p, f *rows) {
		if np := p.n(); i < np {
			p.removeRow(i)
		} else {
			f.removeRow(i - np)
		}
	}
	remove(&h.kp, &h.kf)
	remove(&h.vp, &h.vf)
	h.Pos = append(h.Pos[:i], h.Pos[i+1:]...)
	if h.Score != nil {
		h.Score = append(h.Score[:i], h.Score[i+1:]...)
	}
}

// PruneKeys moves every token but the last recent into the pruned key segment,
// keeping only channels kept (sorted). It fails if keys are already pruned.
func (h *Head) PruneKeys(kept []int, recent, extra int) error {
	if h.KeyKept != nil {
		return fmt.Errorf("kvcache: keys already channel-pruned")
	}
	if err := prune(&h.kp, &h.kf, kept, recent, extra); err != nil {
		return err
	}
	h.KeyKept = kept
	return nil
}

// PruneValues is PruneKeys for values.
func (h *Head) PruneValues(kept []int, recent, extra int) error {
	if h.ValKept != nil {
		return fmt.Errorf("kvcache: values already channel-pruned")
	}
	if err := prune(&h.vp, &h.vf, kept, recent, extra); err != nil {
		return err
	}
	h.ValKept = kept
	return nil
}

func prune(p, f *rows, kept []int, recent, extra int) error {
	if len(kept) == 0 {
		return fmt.Errorf("kvcache: at least one channel must be kept")
	}
	for j, c := range kept {
		if c < 0 || c >= f.width || (j > 0 && c <= kept[j-1]) {
			return fmt.Errorf("kvcache: kept channels must be sorted, unique and in [0,%d)", f.width)
		}
	}
	n := f.n()
	m := max(0, n-recent)
	old, recentIdx := make([]int, m), make([]int, n-m)
	for i := range old {
		old[i] = i
	}
	for i := range recentIdx {
		recentIdx[i] = m + i
	}
	*p = f.gather(old, kept, 0)
	*f = f.gather(recentIdx, nil, extra)
	return nil
}
