package kvcache

import (
	"fmt"
	"slices"
)

// Clone returns a deep copy of the cache: the same configuration, positions,
// kept channels, scores, next position and reserve limit, and in every head
// and segment the same rows with the same room for tokens to come (so the
// same Bytes and HeldBytes), none of it shared with c. A clone of a fork holds
// its shared prefix as its own rows.
func (c *Cache) Clone() *Cache {
	d := &Cache{cfg: c.cfg, heads: make([]Head, len(c.heads)), next: c.next, reserve: c.reserve}
	for i := range c.heads {
		h := &c.heads[i]
		seg := func(r *rows) rows { return r.flat(r.capRows() - r.n()) }
		d.heads[i] = Head{
			d:       h.d,
			Pos:     append(make([]int32, 0, cap(h.Pos)), h.Pos...),
			KeyKept: slices.Clone(h.KeyKept),
			ValKept: slices.Clone(h.ValKept),
			kp:      seg(&h.kp),
			kf:      seg(&h.kf),
			vp:      seg(&h.vp),
			vf:      seg(&h.vf),
			c:       d,
		}
		if h.Score != nil {
			d.heads[i].Score = append(make([]float32, 0, cap(h.Score)), h.Score...)
		}
	}
	return d
}

// Fork returns a copy-on-write copy of the cache: the parent and the fork
// share the rows that exist now, in every head and segment (the frozen
// prefix), and each owns only the rows appended after the fork (its tail).
// Either may go on being used — appended to, attended over, read, compressed
// by a press (Keep, Evict, PruneKeys, PruneValues, ReserveFull) — with
// exactly the results the same operations give on a Clone, and neither ever
// changes what the other sees: the frozen prefix is never written again, and
// an operation that must change a row of it (Evict) first copies the
// segment it is in, while those that rebuild a segment (Keep, PruneKeys,
// PruneValues) build it into a new, owned block anyway.
//
// Layout. Each segment of a head (pruned and full keys, pruned and full
// values) is one immutable block of frozen rows, referenced by every cache
// forked from it, followed by one owned block that appends grow as in a new
// cache (64 rows, then doubling). Attention and reads index a row through
// one comparison with the frozen block's length, so AttendBlock reads each
// row in place from whichever block holds it: forks cost no copy of the
// prefix and no extra pass, only a predictable branch per row. Keeping a
// single frozen block per segment (rather than a chain, one per generation of
// forks) keeps that lookup constant: forking a cache whose segment already
// has both a frozen prefix and a tail of its own merges the two into one new
// frozen block, a copy of that segment (the earlier frozen block stays with
// the other caches that reference it). Forking a cache with no tail of its
// own (the parent of earlier forks that has not grown since, or a fork that
// has not) copies no rows at all, and neither does forking a cache that has
// never been forked whose segments are allocated exactly (a prompt prefilled
// with Grow, segments rebuilt by a press with no extra room); segments with
// room reserved for tokens to come are frozen as a copy of exactly their
// rows, so that the forks do not hold that room forever, and the parent's
// tail then grows afresh.
//
// Positions, scores and kept-channel lists are small (4 bytes a token per
// head for positions, as many for scores if tracked), are written in place
// by presses and the model, and are not counted by Bytes: each fork gets its
// own copy of them (positions with room for the next 64 tokens).
//
// Bytes. A fork's Bytes and HeldBytes count every row it can read, the
// shared prefix included: what it would hold on its own. SharedBytes is the
// part of Bytes in frozen blocks (which other caches may reference too),
// OwnBytes the rest; TotalBytes counts what a set of caches holds together,
// each frozen block once, so that N forks of a prefix of P bytes, each with
// tails of T bytes, hold P + N·T.
//
// Fork changes the parent's layout (its rows become frozen, by Freeze), so
// it must not run concurrently with other uses of an unfrozen parent; on a
// frozen one it only reads. Afterwards the parent and its forks may be used
// from different goroutines at the same time.
func (c *Cache) Fork() *Cache {
	c.Freeze()
	d := &Cache{cfg: c.cfg, heads: make([]Head, len(c.heads)), next: c.next, reserve: c.reserve}
	room := min(GrowMin, max(c.Remaining(), 0)) // positions of the first tokens to come
	for i := range c.heads {
		h := &c.heads[i]
		d.heads[i] = Head{
			d:       h.d,
			Pos:     append(make([]int32, 0, len(h.Pos)+room), h.Pos...),
			KeyKept: slices.Clone(h.KeyKept),
			ValKept: slices.Clone(h.ValKept),
			kp:      h.kp.fork(),
			kf:      h.kf.fork(),
			vp:      h.vp.fork(),
			vf:      h.vf.fork(),
			c:       d,
		}
		if h.Score != nil {
			d.heads[i].Score = slices.Clone(h.Score)
		}
	}
	return d
}

// Freeze makes the rows the cache holds a frozen prefix block, as Fork does
// before it forks: with no rows of its own left to freeze, a later Fork
// only reads the cache. It is the one step of Fork that changes the
// parent, and it may run on several goroutines at once: a scheduler that
// freezes a prefix when a request for it is submitted can then read it
// (its bytes, its config) while its loop forks it for an earlier request.
func (c *Cache) Freeze() {
	c.freeze.Lock()
	defer c.freeze.Unlock()
	for i := range c.heads {
		h := &c.heads[i]
		for _, r := range []*rows{&h.kp, &h.kf, &h.vp, &h.vf} {
			r.freeze()
		}
	}
}

// SharedBytes returns the part of Bytes in frozen prefix blocks, shared with
// the caches forked from the same parent (see Fork); 0 for a cache that was
// never forked.
func (c *Cache) SharedBytes() int64 {
	var b int64
	for i := range c.heads {
		h := &c.heads[i]
		b += h.kp.sharedBytes() + h.kf.sharedBytes() + h.vp.sharedBytes() + h.vf.sharedBytes()
	}
	return b
}

// OwnBytes returns the part of Bytes that only this cache references: its
// rows appended or rebuilt since the last fork, with their spare room.
// Bytes() == SharedBytes() + OwnBytes().
func (c *Cache) OwnBytes() int64 {
	var b int64
	for i := range c.heads {
		h := &c.heads[i]
		b += h.kp.ownBytes() + h.kf.ownBytes() + h.vp.ownBytes() + h.vf.ownBytes()
	}
	return b
}

// TotalBytes returns the bytes the caches cs hold together: each one's
// OwnBytes, plus each frozen prefix block they reference counted once, however
// many of them share it. For caches that were never forked it is the sum of
// their Bytes.
func TotalBytes(cs ...*Cache) int64 {
	var b int64
	seen := map[*rows]bool{}
	for _, c := range cs {
		b += c.OwnBytes()
		for i := range c.heads {
			h := &c.heads[i]
			for _, r := range []*rows{&h.kp, &h.kf, &h.vp, &h.vf} {
				if s := r.shared; s != nil && !seen[s] {
					seen[s] = true
					b += s.ownBytes()
				}
			}
		}
	}
	return b
}

// SetLimit changes the most tokens the cache may hold (its Capacity) to n,
// which may not be below the tokens it has processed: a cache loaded from a
// file or forked from a shared prefix goes on with a limit of its own.
func (c *Cache) SetLimit(n int) error {
	if n < c.next || n <= 0 {
		return fmt.Errorf("kvcache: a limit of %d tokens is below the %d the cache has processed", n, c.next)
	}
	c.cfg.Capacity = n
	return nil
}
